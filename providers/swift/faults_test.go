package swift

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

// faultProxy stands between the store and the real Swift proxy and breaks
// some requests on purpose: HTTP 503 answers, connections reset before an
// answer, and one large download cut in the middle of its body.
type faultProxy struct {
	URL string

	mu        sync.Mutex
	requests  int
	mode      faultMode
	unavail   int // 503s served
	resets    int
	cuts      int
	retryWait string // Retry-After of the 503s, if any
	seen      map[string]bool
}

type faultMode int

const (
	// faultsMixed breaks two requests in five, never two in a row, and
	// cuts the first download larger than 2 MiB after 1 MiB.
	faultsMixed faultMode = iota
	// faultsAlways answers every request with 503.
	faultsAlways
	// faultsFirstPut resets the first PUT of every object after reading
	// part of its body, so that every upload has to start over.
	faultsFirstPut
)

func startFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{seen: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the Host header, so tempauth's storage URL points here
	rp.ModifyResponse = func(resp *http.Response) error {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		if fp.mode == faultsMixed && fp.cuts == 0 && resp.Request.Method == http.MethodGet && resp.ContentLength > 2<<20 {
			fp.cuts++
			resp.Body = &cutBody{ReadCloser: resp.Body, left: 1 << 20}
		}
		return nil
	}
	rp.ErrorLog = nil
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp.mu.Lock()
		fp.requests++
		n, mode, wait := fp.requests, fp.mode, fp.retryWait
		fault := mode == faultsAlways || n%5 == 1
		reset := mode == faultsMixed && n%5 == 3
		if mode == faultsFirstPut && r.Method == http.MethodPut && !fp.seen[r.URL.Path] {
			fp.seen[r.URL.Path] = true
			reset = true
		}
		if fault {
			fp.unavail++
		}
		if reset {
			fp.resets++
		}
		fp.mu.Unlock()
		switch {
		case fault:
			io.Copy(io.Discard, r.Body)
			if wait != "" {
				w.Header().Set("Retry-After", wait)
			}
			http.Error(w, "injected", http.StatusServiceUnavailable)
		case reset:
			io.CopyN(io.Discard, r.Body, 1<<20) // part of the body has been sent
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if tcp, ok := conn.(*net.TCPConn); ok {
				tcp.SetLinger(0) // a reset rather than an orderly close
			}
			conn.Close()
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	fp.URL = srv.URL
	return fp
}

func (fp *faultProxy) set(mode faultMode, retryWait string) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.mode, fp.retryWait = mode, retryWait
	fp.requests, fp.unavail, fp.resets, fp.cuts = 0, 0, 0, 0
}

func (fp *faultProxy) counts() (requests, unavail, resets, cuts int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.requests, fp.unavail, fp.resets, fp.cuts
}

// cutBody fails after left bytes, as a connection dropped mid-transfer.
type cutBody struct {
	io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("injected cut")
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func testRetries(t *testing.T, srv testserver.SwiftServer) {
	ctx := t.Context()
	fp := startFaultProxy(t, srv.URL)
	loc := providers.Location{Scheme: "swift", Bucket: "extra", Prefix: "faults"}
	s, err := newStore(ctx, loc, Options{SegmentSize: testSegmentSize}, v1Env(fp.URL+"/auth/v1.0", srv.User, srv.Key))
	if err != nil {
		t.Fatalf("New through faults: %v", err)
	}

	t.Run("operations succeed through faults", func(t *testing.T) {
		const size = 12<<20 + 5
		if err := s.Put(ctx, "big", random(7, size)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if err := s.Put(ctx, "small", strings.NewReader("small")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		want, _ := io.ReadAll(random(7, size))
		if got := readAll(t, s, "big"); !bytes.Equal(got, want) {
			t.Fatalf("Get returned %d bytes that differ from the %d written", len(got), len(want))
		}
		objs, err := s.List(ctx, "")
		if err != nil || len(objs) != 2 {
			t.Fatalf("List = %v, %v", objs, err)
		}
		for _, key := range []string{"big", "small"} {
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete(%q): %v", key, err)
			}
		}
		requests, unavail, resets, cuts := fp.counts()
		t.Logf("%d requests: %d answered 503, %d reset, %d downloads cut", requests, unavail, resets, cuts)
		if unavail == 0 || resets == 0 || cuts != 1 {
			t.Errorf("faults injected: %d 503s, %d resets, %d cuts; want some of each", unavail, resets, cuts)
		}
	})

	t.Run("every upload starts over", func(t *testing.T) {
		fp.set(faultsFirstPut, "")
		defer fp.set(faultsMixed, "")
		const size = 13<<20 + 7 // three segments, the last two sent while read
		if err := s.Put(ctx, "again", random(8, size)); err != nil {
			t.Fatalf("Put: %v", err)
		}
		_, _, resets, _ := fp.counts()
		if resets < 4 {
			t.Errorf("%d uploads were reset, want at least 4 (three segments, the manifest)", resets)
		}
		want, _ := io.ReadAll(random(8, size))
		if got := readAll(t, s, "again"); !bytes.Equal(got, want) {
			t.Fatalf("Get returned %d bytes that differ from the %d written", len(got), len(want))
		}
		if err := s.Delete(ctx, "again"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("attempts are bounded", func(t *testing.T) {
		fp.set(faultsAlways, "")
		defer fp.set(faultsMixed, "")
		err := s.Put(ctx, "never", strings.NewReader("x"))
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Put against a failing server = %v, want an HTTP 503 error", err)
		}
		// One HEAD for the replaced object's segments, which fails.
		if requests, _, _, _ := fp.counts(); requests != 5 {
			t.Errorf("the failing request was sent %d times, want 5 (MaxAttempts)", requests)
		}
	})

	t.Run("cancel ends the wait", func(t *testing.T) {
		// Retry-After of a minute, bounded to 10 s a wait: only the
		// cancel can end the Put with context.Canceled.
		fp.set(faultsAlways, "60")
		defer fp.set(faultsMixed, "")
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			for cctx.Err() == nil {
				if requests, _, _, _ := fp.counts(); requests > 0 {
					cancel()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		err := s.Put(cctx, "never", strings.NewReader("x"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put cancelled while waiting to retry = %v, want context.Canceled", err)
		}
	})
}
