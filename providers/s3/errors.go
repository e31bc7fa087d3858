package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"etcdbrctl/providers"
)

// Error codes S3 and S3-compatible servers answer with, grouped by the
// providers error they mean.
var (
	notFoundCodes = map[string]bool{
		"NoSuchKey": true, "NotFound": true, "NoSuchBucket": true, "NoSuchUpload": true,
	}
	permissionCodes = map[string]bool{
		"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
		"Forbidden": true, "AllAccessDisabled": true, "InvalidToken": true,
		"ExpiredToken": true, "TokenRefreshRequired": true, "AccountProblem": true,
		"InvalidSecurity": true, "UnauthorizedAccess": true,
		// versitygw's answer (with status 404) to an unknown access key.
		"XAdminUserNotFound": true,
	}
)

// kindOf returns providers.ErrNotFound or providers.ErrPermission when err
// means one of them, nil otherwise.
func kindOf(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch code := apiErr.ErrorCode(); {
		case notFoundCodes[code]:
			return providers.ErrNotFound
		case permissionCodes[code]:
			return providers.ErrPermission
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return providers.ErrNotFound
		case http.StatusForbidden, http.StatusUnauthorized:
			return providers.ErrPermission
		}
	}
	return nil
}

// isNoSuchUpload reports whether err says a multipart upload is gone.
func isNoSuchUpload(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload"
}

// opError describes a failed operation on one object (or on the bucket when
// key is empty), matching providers.ErrNotFound or ErrPermission when the
// server's answer means that, and ctx's error when ctx ended.
func (s *Store) opError(ctx context.Context, op, key string, err error) error {
	what := fmt.Sprintf("s3 %s bucket %q", op, s.bucket)
	if key != "" {
		what = fmt.Sprintf("s3 %s %q in bucket %q", op, key, s.bucket)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%s: %w: %w", what, ctxErr, err)
	}
	if kind := kindOf(err); kind != nil {
		return fmt.Errorf("%s: %w: %w", what, kind, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isNoSuchKey reports whether err says an object is missing (not its bucket).
func isNoSuchKey(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")
}
