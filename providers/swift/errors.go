package swift

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2"

	"etcdbrctl/providers"
)

// statusError is an HTTP answer that was not the expected one. Its message is
// the status alone: gophercloud's own error text repeats URLs and response
// bodies, which have no place in logs.
type statusError struct {
	code  int
	kind  error // providers.ErrNotFound, providers.ErrPermission or nil
	cause error
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	switch e.kind {
	case providers.ErrPermission:
		msg += " (" + providers.ErrPermission.Error() + ")"
	case providers.ErrNotFound:
		msg += " (" + providers.ErrNotFound.Error() + ")"
	}
	return msg
}

func (e *statusError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.cause}
	}
	return []error{e.kind, e.cause}
}

// reauthError is a refused request whose re-authentication failed too.
type reauthError struct{ reauth error }

func (e *reauthError) Error() string {
	return "token refused, and getting a new one failed: " + e.reauth.Error()
}

func (e *reauthError) Unwrap() []error { return []error{providers.ErrPermission, e.reauth} }

// classify turns gophercloud's errors into ones that match the providers
// sentinels and print no URL or body; other errors pass unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var reauth *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) {
		return &reauthError{reauth: classify(reauth.ErrReauth)}
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		return &statusError{code: code.Actual, kind: statusKind(code.Actual), cause: err}
	}
	return err
}

func statusKind(code int) error {
	switch code {
	case http.StatusNotFound:
		return providers.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return providers.ErrPermission
	}
	return nil
}

// isStatus reports whether err is an HTTP answer with the given code.
func isStatus(err error, code int) bool {
	return gophercloud.ResponseCodeIs(err, code)
}
