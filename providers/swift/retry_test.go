package swift

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	wrap := func(err error) error { return &url.Error{Op: "Put", URL: "http://127.0.0.1/x", Err: err} }
	errTests := []struct {
		err  error
		want bool
	}{
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), true},
		{wrap(fmt.Errorf("readfrom: %w", net.ErrClosed)), true},
		{wrap(io.EOF), true},
		{wrap(fmt.Errorf("transport connection broken: %w", io.ErrUnexpectedEOF)), true},
		{wrap(context.Canceled), false},
		{wrap(context.DeadlineExceeded), false},
		{wrap(x509.UnknownAuthorityError{}), false},
		{wrap(errors.New("unsupported protocol scheme")), false},
	}
	for _, tt := range errTests {
		if got := retryable(nil, tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	for code, want := range map[int]bool{200: false, 201: false, 401: false, 404: false, 409: false,
		429: true, 500: true, 501: false, 502: true, 503: true, 504: true, 505: false} {
		if got := retryable(&http.Response{StatusCode: code}, nil); got != want {
			t.Errorf("retryable(HTTP %d) = %v, want %v", code, got, want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	rt := &retryTransport{minDelay: 100 * time.Millisecond, maxDelay: 2 * time.Second}
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(100*time.Millisecond<<(attempt-1), 2*time.Second)
		for range 20 {
			if d := rt.delay(attempt, nil); d < ceiling/2 || d > ceiling {
				t.Fatalf("delay(%d) = %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
	for header, want := range map[string]time.Duration{"0": 0, "1": time.Second, "3600": 2 * time.Second} {
		resp := &http.Response{Header: http.Header{"Retry-After": {header}}}
		if d := rt.delay(1, resp); d != want {
			t.Errorf("delay with Retry-After %s = %v, want %v", header, d, want)
		}
	}
}
