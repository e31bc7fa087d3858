package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

// faultWindow is how long a fault lasts: longer than a few quick retries,
// shorter than the retries' bound, so that a Put may succeed or fail.
const faultWindow = 400 * time.Millisecond

// TestFaults puts toxiproxy between the store and versitygw and breaks the
// connection in the middle of uploads and downloads. An upload may succeed
// (the SDK retried) or fail, but never leaves a partial object listed, and
// leaves no incomplete upload once RemoveLeftovers ran.
func TestFaults(t *testing.T) {
	srv := startServer(t)
	tp := testserver.StartToxiproxy(t)
	bucket := srv.CreateBucket(t)
	const size = 16 * mib // four 5 MiB parts, the last one short

	// through gives a store whose connections pass a proxy of their own.
	through := func(t *testing.T, name string) (*Store, *testserver.Proxy) {
		p := tp.Proxy(t, name, srv.Addr)
		return newTestStore(t, "http://"+p.Listen, bucket, name, Options{PartSize: MinPartSize, Concurrency: 2}), p
	}

	t.Run("latency", func(t *testing.T) {
		s, p := through(t, "latency")
		p.AddToxic(t, "slow", "latency", "downstream", 1, map[string]any{"latency": 40, "jitter": 20})
		p.AddToxic(t, "slow-up", "latency", "upstream", 1, map[string]any{"latency": 20})
		if err := s.Put(t.Context(), "obj", pseudoRandom(1, size)); err != nil {
			t.Fatalf("Put through added latency: %v", err)
		}
		checkObject(t, s, "obj", 1, size)
		if got := listKeys(t, s, ""); len(got) != 1 || got["obj"] != size {
			t.Errorf("List = %v, want obj (%d bytes)", got, size)
		}
	})

	faults := []struct {
		name string
		// inject breaks the data flowing in stream: "upstream" for uploads,
		// "downstream" for downloads.
		inject func(t *testing.T, p *testserver.Proxy, stream string)
		heal   func(t *testing.T, p *testserver.Proxy)
	}{
		{
			name: "connection reset",
			inject: func(t *testing.T, p *testserver.Proxy, stream string) {
				p.AddToxic(t, "reset", "reset_peer", stream, 1, map[string]any{"timeout": 0})
			},
			heal: func(t *testing.T, p *testserver.Proxy) { p.RemoveToxic(t, "reset") },
		},
		{
			name: "connection cut after 1 MiB",
			inject: func(t *testing.T, p *testserver.Proxy, stream string) {
				p.AddToxic(t, "cut", "limit_data", stream, 1, map[string]any{"bytes": mib})
			},
			heal: func(t *testing.T, p *testserver.Proxy) { p.RemoveToxic(t, "cut") },
		},
		{
			name:   "proxy down",
			inject: func(t *testing.T, p *testserver.Proxy, _ string) { p.SetEnabled(t, false) },
			heal:   func(t *testing.T, p *testserver.Proxy) { p.SetEnabled(t, true) },
		},
	}
	for i, f := range faults {
		t.Run("upload/"+f.name, func(t *testing.T) {
			s, p := through(t, fmt.Sprintf("up%d", i))
			failures := countTransportFailures(s)
			err := putWithFault(t, s, "obj", uint64(10+i), size, 7*mib,
				func() { f.inject(t, p, "upstream") }, func() { f.heal(t, p) })
			if failures.Load() == 0 {
				t.Errorf("no request failed: the fault did not reach the upload")
			}
			t.Logf("%d failed attempts", failures.Load())
			checkAfterFault(t, s, "obj", uint64(10+i), size, err)
		})
		t.Run("download/"+f.name, func(t *testing.T) {
			s, p := through(t, fmt.Sprintf("down%d", i))
			const big = 64 * mib // more than loopback buffers hold
			if err := s.Put(t.Context(), "obj", pseudoRandom(20, big)); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Get(t.Context(), "obj")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			// Keep reading, at a bounded pace, while the fault comes and goes:
			// toxiproxy cannot change the toxics of a link blocked on a
			// client that does not read.
			r := newSignallingReader(t.Context(), &pacedReader{r: rc}, 4*mib, false)
			type digest struct {
				sum string
				n   int64
				err error
			}
			read := make(chan digest, 1)
			go func() {
				h := sha256.New()
				n, err := io.Copy(h, r)
				read <- digest{hex.EncodeToString(h.Sum(nil)), n, err}
			}()
			select {
			case <-r.reached:
			case got := <-read:
				t.Fatalf("the download ended (%d bytes, %v) before the fault", got.n, got.err)
			}
			f.inject(t, p, "downstream")
			time.Sleep(faultWindow)
			f.heal(t, p)
			got := <-read
			if got.err != nil {
				t.Fatalf("reading through a fault: %v", got.err)
			}
			want, _ := sha256Of(t, pseudoRandom(20, big))
			if got.sum != want || got.n != big {
				t.Fatalf("read through a fault: %d bytes, sha256 %s; want %d bytes, %s", got.n, got.sum, int64(big), want)
			}
			if resumes := rc.(*objectReader).resumes; resumes == 0 {
				t.Errorf("the download was never resumed: the fault did not reach it")
			} else {
				t.Logf("download resumed %d times", resumes)
			}
		})
	}
}

// A Put cancelled while the store is unreachable returns the cancellation;
// its upload, which it could not abort, is never listed and RemoveLeftovers
// removes it once the store is back.
func TestCancelWhileUnreachable(t *testing.T) {
	srv := startServer(t)
	tp := testserver.StartToxiproxy(t)
	bucket := srv.CreateBucket(t)
	p := tp.Proxy(t, "s3", srv.Addr)
	s := newTestStore(t, "http://"+p.Listen, bucket, "cancelled", Options{PartSize: MinPartSize, Concurrency: 2})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := newSignallingReader(ctx, pseudoRandom(30, 64*mib), 12*mib, false)
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "obj", r) }()
	waitReached(t, r, done)
	p.SetEnabled(t, false)
	time.Sleep(faultWindow)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Put still running a minute after its context was cancelled")
	}
	p.SetEnabled(t, true)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want an error matching context.Canceled", err)
	}
	t.Logf("Put: %v", err)
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Errorf("after a cancelled Put, List = %v, want nothing", got)
	}
	left := len(incompleteUploads(t, s, s.root))
	t.Logf("%d incomplete upload(s) left by the cancelled Put", left)
	n, err := s.RemoveLeftovers(t.Context(), time.Now().Add(time.Hour))
	if err != nil || n != left {
		t.Errorf("RemoveLeftovers = %d, %v; want %d (the uploads left), nil", n, err, left)
	}
	if ups := incompleteUploads(t, s, s.root); len(ups) != 0 {
		t.Errorf("%d incomplete uploads remain after RemoveLeftovers", len(ups))
	}
}

// putWithFault starts a Put, injects a fault once after bytes were read,
// heals it after faultWindow (or when Put returns sooner), and returns Put's
// result.
func putWithFault(t *testing.T, s *Store, key string, seed uint64, size, after int64, inject, heal func()) error {
	t.Helper()
	r := newSignallingReader(t.Context(), pseudoRandom(seed, size), after, false)
	done := make(chan error, 1)
	go func() { done <- s.Put(t.Context(), key, r) }()
	waitReached(t, r, done)
	inject()
	select {
	case err := <-done:
		heal()
		return err
	case <-time.After(faultWindow):
	}
	heal()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Minute):
		t.Fatal("Put still running 3 minutes after the fault ended")
		return nil
	}
}

// checkAfterFault checks the only two outcomes allowed: the whole object, or
// nothing; and no incomplete upload after RemoveLeftovers.
func checkAfterFault(t *testing.T, s *Store, key string, seed uint64, size int64, putErr error) {
	t.Helper()
	listed := listKeys(t, s, "")
	if putErr == nil {
		t.Logf("Put succeeded through the fault")
		if len(listed) != 1 || listed[key] != size {
			t.Errorf("after a successful Put, List = %v, want %s (%d bytes)", listed, key, size)
		}
		checkObject(t, s, key, seed, size)
	} else {
		t.Logf("Put failed cleanly: %v", putErr)
		if len(listed) != 0 {
			t.Errorf("after a failed Put, List = %v, want nothing", listed)
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, providers.ErrNotFound) {
			t.Errorf("after a failed Put, Get = %v, want providers.ErrNotFound", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	n, err := s.RemoveLeftovers(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("RemoveLeftovers: %v", err)
	}
	if n > 0 {
		t.Logf("RemoveLeftovers aborted %d upload(s) the failed Put could not", n)
	}
	if ups := incompleteUploads(t, s, s.root); len(ups) != 0 {
		t.Errorf("%d incomplete uploads remain after RemoveLeftovers", len(ups))
	}
}

// countTransportFailures makes s count the HTTP attempts that failed in
// transport (reset, cut, refused), which the SDK then retried.
func countTransportFailures(s *Store) *atomic.Int64 {
	var n atomic.Int64
	s.client = s3.New(s.client.Options(), func(o *s3.Options) {
		o.HTTPClient = countingClient{inner: o.HTTPClient, failures: &n}
	})
	s.uploader.S3 = s.client
	return &n
}

type countingClient struct {
	inner    s3.HTTPClient
	failures *atomic.Int64
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(r)
	if err != nil {
		c.failures.Add(1)
	}
	return resp, err
}

// pacedReader reads at most 64 KiB per millisecond, so that a download
// outlasts the fault put in its way.
type pacedReader struct{ r io.Reader }

func (p *pacedReader) Read(b []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return p.r.Read(b[:min(len(b), 64<<10)])
}
