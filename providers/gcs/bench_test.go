package gcs

import (
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"etcdbrctl/internal/memstat"
	"etcdbrctl/internal/testserver"
)

// BenchmarkTransfer uploads and downloads one object of ETCDBR_BENCH_SIZE
// bytes (default 1GiB) through Store.Put and Store.Get, and, as a baseline in
// the same run against the same server, the SDK's plain upload of the same
// bytes from a file and its plain download. The source bytes are generated
// as they are read, never held whole in memory. Run it once:
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/gcs
func BenchmarkTransfer(b *testing.B) {
	size := benchSize(b)
	srv := testserver.StartFakeGCS(b, "bench")
	b.Setenv("STORAGE_EMULATOR_HOST", "")
	b.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	loc := mustParse(b, "gs://bench/transfer?endpoint="+srv.Endpoint)
	opts := Options{}.withDefaults()
	s, err := New(b.Context(), loc, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	file := writeSourceFile(b, size)

	for b.Loop() {
		ctx := b.Context()
		measure(b, "sdk-put-file", size, func() error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			w := s.bucket.Object("baseline").NewWriter(ctx)
			w.ChunkSize = opts.ChunkSize
			if _, err := io.Copy(w, f); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		})
		measure(b, "sdk-get", size, func() error {
			r, err := s.bucket.Object("baseline").NewReader(ctx)
			if err != nil {
				return err
			}
			defer r.Close()
			return drain(r, size)
		})
		measure(b, "put", size, func() error { return s.Put(ctx, "stream", source(size)) })
		measure(b, "get", size, func() error {
			r, err := s.Get(ctx, "stream")
			if err != nil {
				return err
			}
			defer r.Close()
			return drain(r, size)
		})
	}
}

// measure runs one phase and reports its throughput and how far the
// process's peak resident memory rose above where it started.
func measure(b *testing.B, name string, size int64, phase func() error) {
	b.Helper()
	runtime.GC()
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

func benchSize(b *testing.B) int64 {
	raw := os.Getenv("ETCDBR_BENCH_SIZE")
	if raw == "" {
		return 1 << 30
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(raw, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				break
			}
			return n * u.mult
		}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("ETCDBR_BENCH_SIZE=%q: want a size such as 1GiB, 256MiB or 1000000", raw)
	}
	return n
}

// source generates size pseudo-random (incompressible) bytes as they are read.
func source(size int64) io.Reader {
	return io.LimitReader(mathrand.NewChaCha8([32]byte{42}), size)
}

func writeSourceFile(b *testing.B, size int64) string {
	path := filepath.Join(b.TempDir(), "source")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, source(size)); err != nil {
		b.Fatal(err)
	}
	return path
}

func drain(r io.Reader, size int64) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != size {
		return io.ErrUnexpectedEOF
	}
	return err
}
