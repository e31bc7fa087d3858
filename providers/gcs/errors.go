package gcs

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"etcdbrctl/providers"
)

// storeError names the operation, bucket and key of a failure, and matches
// providers.ErrNotFound or ErrPermission when GCS said so.
type storeError struct {
	op     string
	bucket string
	name   string // full object name or listing prefix
	kind   error  // providers.ErrNotFound, providers.ErrPermission or nil
	err    error
}

func (e *storeError) Error() string {
	return fmt.Sprintf("gcs %s gs://%s/%s: %s", e.op, e.bucket, e.name, redactURLs(e.err.Error()))
}

func (e *storeError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

func (s *Store) fail(op, key string, err error) error {
	return &storeError{op: op, bucket: s.loc.Bucket, name: s.base + key, kind: classify(err), err: err}
}

// classify maps what the SDK returns to the errors every provider shares.
func classify(err error) error {
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return providers.ErrNotFound
	}
	switch httpStatus(err) {
	case http.StatusNotFound:
		return providers.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return providers.ErrPermission
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.NotFound:
			return providers.ErrNotFound
		case codes.PermissionDenied, codes.Unauthenticated:
			return providers.ErrPermission
		}
	}
	return nil
}

func httpStatus(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	var aerr *apierror.APIError
	if errors.As(err, &aerr) {
		return aerr.HTTPCode()
	}
	return 0
}

// A URL's query can carry a capability (the upload_id of a resumable upload
// in progress, a signature); messages keep the address and drop the query.
var urlQuery = regexp.MustCompile(`(\b[a-z][a-z0-9+.-]*://[^\s"?]*)\?[^\s"]*`)

func redactURLs(msg string) string { return urlQuery.ReplaceAllString(msg, "$1?REDACTED") }

// redactError hides URL queries in err's message and keeps its chain.
func redactError(err error) error { return redacted{err} }

type redacted struct{ err error }

func (r redacted) Error() string { return redactURLs(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }
