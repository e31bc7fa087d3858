package gcs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

// faultRig puts toxiproxy between the store under test and fake-gcs-server.
// The server hands out resumable upload URLs on the proxy's address, so every
// request of an upload crosses the proxy.
type faultRig struct {
	proxy   *testserver.Proxy
	through *Store // through the proxy
	direct  *Store // straight to the server, to look at the outcome
}

func newFaultRig(t *testing.T) *faultRig {
	tp := testserver.StartToxiproxy(t)
	port := testserver.FreePort(t)
	proxy := tp.Proxy(t, "gcs", "127.0.0.1:"+strconv.Itoa(port))
	srv := testserver.StartFakeGCSWith(t, testserver.FakeGCSOptions{
		Port: port, ExternalURL: "http://" + proxy.Listen, Buckets: []string{"backups"},
	})
	return &faultRig{
		proxy: proxy,
		through: openStore(t, "http://"+proxy.Listen, "gs://backups/faults", Options{
			ChunkSize: smallChunks, MaxAttempts: 12, ChunkRetryDeadline: 20 * time.Second,
		}),
		direct: openStore(t, srv.Endpoint, "gs://backups/faults", Options{}),
	}
}

// signalReader yields size pseudo-random bytes and closes half once half of
// them have been read.
type signalReader struct {
	r    io.Reader
	read int64
	at   int64
	half chan struct{}
	once sync.Once
}

func newSignalReader(seed uint64, size int64) *signalReader {
	return &signalReader{r: payload(seed, size), at: size / 2, half: make(chan struct{})}
}

func (s *signalReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	if s.read >= s.at {
		s.once.Do(func() { close(s.half) })
	}
	return n, err
}

func payload(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return io.LimitReader(mathrand.NewChaCha8(key), size)
}

func sum(t *testing.T, r io.Reader) ([32]byte, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, n
}

// checkWholeOrNothing checks that key is either absent or complete, and
// that it is complete if Put succeeded.
func (r *faultRig) checkWholeOrNothing(t *testing.T, key string, seed uint64, size int64, putErr error) {
	t.Helper()
	objects, err := r.direct.List(t.Context(), key)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(objects) == 0 {
		if putErr == nil {
			t.Fatalf("Put(%q) succeeded but the object is not listed", key)
		}
		return
	}
	if len(objects) != 1 || objects[0].Key != key || objects[0].Size != size {
		t.Fatalf("List(%q) = %+v, want nothing or one object of %d bytes", key, objects, size)
	}
	rc, err := r.direct.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	got, n := sum(t, rc)
	want, _ := sum(t, payload(seed, size))
	if got != want || n != size {
		t.Fatalf("Get(%q): %d bytes that differ from what was put", key, n)
	}
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection takes seconds; skipped with -short")
	}
	rig := newFaultRig(t)
	const size = 3 << 20 // a dozen chunks
	tests := []struct {
		name string
		// during runs once half of the object has been read; the fault
		// it injects must be gone when it returns.
		before, during func(t *testing.T)
		// mustSucceed: the fault is survivable by retrying.
		mustSucceed bool
	}{
		{
			name: "latency",
			before: func(t *testing.T) {
				rig.proxy.AddToxic(t, "slow", "latency", "downstream", 1, map[string]any{"latency": 40, "jitter": 20})
			},
			during:      func(t *testing.T) {},
			mustSucceed: true,
		},
		{
			name:   "connection reset mid-upload",
			before: func(t *testing.T) {},
			during: func(t *testing.T) {
				rig.proxy.AddToxic(t, "reset", "reset_peer", "upstream", 1, map[string]any{"timeout": 0})
				time.Sleep(400 * time.Millisecond)
				rig.proxy.RemoveToxic(t, "reset")
			},
		},
		{
			name:   "proxy down mid-upload",
			before: func(t *testing.T) {},
			during: func(t *testing.T) {
				rig.proxy.SetEnabled(t, false)
				time.Sleep(400 * time.Millisecond)
				rig.proxy.SetEnabled(t, true)
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := uint64(10 + i)
			key := "obj-" + strconv.Itoa(i)
			tt.before(t)
			t.Cleanup(func() { rig.proxy.SetEnabled(t, true) })
			if tt.name == "latency" {
				t.Cleanup(func() { rig.proxy.RemoveToxic(t, "slow") })
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			src := newSignalReader(seed, size)
			done := make(chan error, 1)
			go func() { done <- rig.through.Put(ctx, key, src) }()
			var err error
			select {
			case <-src.half:
				tt.during(t)
				err = <-done
			case err = <-done:
				t.Fatalf("Put returned %v before reading half of the object", err)
			}
			t.Logf("Put: %v", err)
			if tt.mustSucceed && err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			rig.checkWholeOrNothing(t, key, seed, size, err)
		})
	}
}

// A Put waiting on a dead connection ends with the caller's cancellation,
// not when its retries run out, and leaves nothing behind.
func TestCancelWhileServerUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection takes seconds; skipped with -short")
	}
	rig := newFaultRig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := newSignalReader(1, 3<<20)
	done := make(chan error, 1)
	go func() { done <- rig.through.Put(ctx, "stuck", src) }()
	select {
	case <-src.half:
	case err := <-done:
		t.Fatalf("Put returned %v before reading half of the object", err)
	}
	rig.proxy.SetEnabled(t, false)
	t.Cleanup(func() { rig.proxy.SetEnabled(t, true) })
	time.Sleep(300 * time.Millisecond) // let the upload hit the dead proxy
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want an error matching context.Canceled", err)
	}
	objects, err := rig.direct.List(t.Context(), "")
	if err != nil || len(objects) != 0 {
		t.Fatalf("after a cancelled Put, List = %v, %v; want nothing", objects, err)
	}
	if _, err := rig.direct.Get(t.Context(), "stuck"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Get after a cancelled Put = %v, want ErrNotFound", err)
	}
	_ = bytes.MinRead
}
