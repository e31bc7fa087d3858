package swift

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// retryTransport repeats a request that failed in a way worth another try:
// a connection refused, reset or cut short, or an answer of 429 or 5xx (but
// 501 and 505, which will not change). Only requests whose body can be read
// again (GetBody, as http.NewRequest sets for in-memory bodies, or a body
// that can replay itself) are repeated. The waits grow exponentially with jitter, are bounded, follow
// Retry-After within the bound, and end at once when the context is done.
type retryTransport struct {
	base        http.RoundTripper
	maxAttempts int
	minDelay    time.Duration
	maxDelay    time.Duration
}

// replayableBody is a request body that can start over, such as a
// segment read from its source while it is sent.
type replayableBody interface {
	io.ReadCloser
	// Replay returns the same content from its start, or nil when it can
	// no longer be produced.
	Replay() io.ReadCloser
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	replayable, _ := req.Body.(replayableBody)
	canRepeat := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil || replayable != nil
	try := req
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(try)
		if !canRepeat || attempt >= t.maxAttempts || ctx.Err() != nil || !retryable(resp, err) {
			return resp, err
		}
		var body io.ReadCloser
		if replayable != nil && req.GetBody == nil {
			if body = replayable.Replay(); body == nil {
				return resp, err // the source failed: nothing to send again
			}
		}
		delay := t.delay(attempt, resp)
		if resp != nil {
			// Drained so that the connection can serve the next try.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if req.GetBody != nil {
			if body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, err
		}
		try = req.Clone(ctx)
		if body != nil {
			try.Body = body
		}
	}
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		// Network failures (refused, reset, closed mid-request, timeouts),
		// but not, say, a certificate the client refuses.
		var opErr *net.OpError
		var netErr net.Error
		return errors.As(err, &opErr) || errors.Is(err, net.ErrClosed) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
			errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.As(err, &netErr) && netErr.Timeout()
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	default:
		return code >= 500
	}
}

// delay is the wait before the next attempt: exponential from minDelay with
// full jitter, or what Retry-After asks for; never more than maxDelay.
func (t *retryTransport) delay(attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, t.maxDelay)
		}
	}
	ceiling := min(t.minDelay<<(attempt-1), t.maxDelay)
	return ceiling/2 + rand.N(ceiling/2+1)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
