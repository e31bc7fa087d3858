package gcs

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"etcdbrctl/providers"
)

func mustParse(t testing.TB, raw string) providers.Location {
	t.Helper()
	loc, err := providers.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fake-gcs-server grants every request, so it cannot answer 401 or 403; the
// mapping is checked here on the error values the SDK returns for them.
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"object missing", fmt.Errorf("%w: %w", storage.ErrObjectNotExist, &googleapi.Error{Code: 404}), providers.ErrNotFound},
		{"bucket missing", fmt.Errorf("%w: %w", storage.ErrBucketNotExist, &googleapi.Error{Code: 404}), providers.ErrNotFound},
		{"plain 404", &googleapi.Error{Code: http.StatusNotFound, Message: "No such object"}, providers.ErrNotFound},
		{"403", &googleapi.Error{Code: http.StatusForbidden, Message: "does not have storage.objects.create access"}, providers.ErrPermission},
		{"401", &googleapi.Error{Code: http.StatusUnauthorized, Message: "Invalid Credentials"}, providers.ErrPermission},
		{"wrapped 403", fmt.Errorf("writing: %w", &googleapi.Error{Code: http.StatusForbidden}), providers.ErrPermission},
		{"grpc permission", status.Error(codes.PermissionDenied, "denied"), providers.ErrPermission},
		{"grpc unauthenticated", status.Error(codes.Unauthenticated, "no token"), providers.ErrPermission},
		{"grpc not found", status.Error(codes.NotFound, "gone"), providers.ErrNotFound},
		{"server error", &googleapi.Error{Code: http.StatusServiceUnavailable}, nil},
		{"precondition", &googleapi.Error{Code: http.StatusPreconditionFailed}, nil},
		{"network", &url.Error{Op: "Get", URL: "http://127.0.0.1:1/x", Err: io.ErrUnexpectedEOF}, nil},
	}
	s := &Store{loc: mustParse(t, "gs://bucket/prefix"), base: "prefix/"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.fail("get", "key", tt.err)
			for _, kind := range []error{providers.ErrNotFound, providers.ErrPermission} {
				if got, want := errors.Is(err, kind), kind == tt.want; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, kind, got, want)
				}
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("%v does not wrap the SDK's error", err)
			}
			if !strings.Contains(err.Error(), "gs://bucket/prefix/key") {
				t.Errorf("%q does not name the bucket and key", err)
			}
		})
	}
}

// The URL of a resumable upload in progress is a capability: messages drop it.
func TestErrorHidesUploadURL(t *testing.T) {
	s := &Store{loc: mustParse(t, "gs://bucket/prefix"), base: "prefix/"}
	cause := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/upload/storage/v1/b/bucket/o?uploadType=resumable&upload_id=UPLOAD-SECRET", Err: io.ErrUnexpectedEOF}
	err := s.fail("put", "key", cause)
	if strings.Contains(err.Error(), "UPLOAD-SECRET") {
		t.Errorf("error %q shows the upload's URL", err)
	}
	if !strings.Contains(err.Error(), "http://127.0.0.1:1/upload/storage/v1/b/bucket/o") || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %q lost the address or the cause", err)
	}
}
