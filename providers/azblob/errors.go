package azblob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"etcdbrctl/providers"
)

// storeError names the operation, container and blob of a failure, and
// matches providers.ErrNotFound or ErrPermission when Azure said so.
type storeError struct {
	op        string
	container string
	name      string // full blob name or listing prefix
	kind      error  // providers.ErrNotFound, providers.ErrPermission or nil
	err       error
}

func (e *storeError) Error() string {
	return fmt.Sprintf("azblob %s %s/%s: %s", e.op, e.container, e.name, describe(e.err))
}

func (e *storeError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

func (s *Store) fail(op, key string, err error) error {
	return &storeError{op: op, container: s.container, name: s.base + key, kind: classify(err), err: err}
}

var (
	notFoundCodes = []bloberror.Code{
		bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound,
	}
	permissionCodes = []bloberror.Code{
		bloberror.AuthenticationFailed, bloberror.AuthorizationFailure,
		bloberror.AuthorizationPermissionMismatch, bloberror.AuthorizationProtocolMismatch,
		bloberror.AuthorizationResourceTypeMismatch, bloberror.AuthorizationServiceMismatch,
		bloberror.AuthorizationSourceIPMismatch, bloberror.InsufficientAccountPermissions,
		bloberror.NoAuthenticationInformation,
	}
)

// classify maps what the SDK returns to the errors every provider shares.
func classify(err error) error {
	switch {
	case bloberror.HasCode(err, notFoundCodes...):
		return providers.ErrNotFound
	case bloberror.HasCode(err, permissionCodes...):
		return providers.ErrPermission
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return providers.ErrPermission
	}
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.StatusCode {
		case http.StatusNotFound:
			return providers.ErrNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			return providers.ErrPermission
		}
	}
	return nil
}

// describe shortens the SDK's many-line response errors to their code and
// status, and hides URL queries, which can hold a SAS signature.
func describe(err error) string {
	var respErr *azcore.ResponseError
	if errors.As(err, &respErr) {
		code := respErr.ErrorCode
		if code == "" {
			code = http.StatusText(respErr.StatusCode)
		}
		msg := fmt.Sprintf("%s (HTTP %d)", code, respErr.StatusCode)
		for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
			if errors.Is(err, ctxErr) {
				msg = ctxErr.Error() + ": " + msg
			}
		}
		return msg
	}
	return redactURLs(err.Error())
}

var urlQuery = regexp.MustCompile(`(\b[a-z][a-z0-9+.-]*://[^\s"?]*)\?[^\s"]*`)

func redactURLs(msg string) string { return urlQuery.ReplaceAllString(msg, "$1?REDACTED") }
