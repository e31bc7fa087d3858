package storetest

import (
	"context"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"etcdbrctl/internal/bytesize"
	"etcdbrctl/internal/memstat"
	"etcdbrctl/providers"
)

// SDK is a provider's plain SDK, the baseline a store is measured beside.
type SDK struct {
	// PutFile uploads the file the way the SDK does best (it may read
	// parts straight from the file).
	PutFile func(ctx context.Context, path string) error
	// Get reads back what PutFile stored.
	Get func(ctx context.Context) (io.ReadCloser, error)
}

// BenchTransfer moves one object of ETCDBR_BENCH_SIZE bytes (default 1GiB;
// KiB, MiB and GiB suffixes) through the store: Put of a stream generated
// as it is read and Get, beside the plain SDK uploading the same bytes from
// a file and reading them back, in the same run. Each phase reports MB/s
// and how far peak resident memory rose above where it started.
func BenchTransfer(b *testing.B, store providers.Store, sdk SDK) {
	size := benchSize(b)
	file := filepath.Join(b.TempDir(), "object")
	writeFile(b, file, size)
	ctx := context.Background()
	for b.Loop() {
		measure(b, "sdk-file-put", size, func() error { return sdk.PutFile(ctx, file) })
		measure(b, "store-put", size, func() error { return store.Put(ctx, "bench/object", generated(size)) })
		measure(b, "sdk-get", size, func() error { return readAll(sdk.Get(ctx))(size) })
		measure(b, "store-get", size, func() error { return readAll(store.Get(ctx, "bench/object"))(size) })
	}
}

// readAll returns a check that reads rc to its end and finds size bytes.
func readAll(rc io.ReadCloser, err error) func(size int64) error {
	return func(size int64) error {
		if err != nil {
			return err
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, rc)
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		return err
	}
}

func measure(b *testing.B, name string, size int64, phase func() error) {
	b.Helper()
	debug.FreeOSMemory()
	if err := memstat.ResetPeak(); err != nil {
		b.Fatal(err)
	}
	before, err := memstat.RSS()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := phase(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	elapsed := time.Since(start)
	peak, err := memstat.PeakRSS()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/1e6/elapsed.Seconds(), name+"-MB/s")
	b.ReportMetric(float64(peak-before)/(1<<20), name+"-peakRSS-MiB")
}

// generated gives size incompressible bytes as they are read, the same
// each time.
func generated(size int64) io.Reader {
	return io.LimitReader(mathrand.NewChaCha8([32]byte{42}), size)
}

func writeFile(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, generated(size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchSize(b *testing.B) int64 {
	raw := os.Getenv("ETCDBR_BENCH_SIZE")
	if raw == "" {
		return 1 << 30
	}
	n, err := bytesize.Parse(raw)
	if err != nil || n == 0 {
		b.Fatalf("ETCDBR_BENCH_SIZE: want a size such as 1GiB or 256MiB: %v", err)
	}
	return n
}
