package swift

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"etcdbrctl/internal/memstat"
	"etcdbrctl/internal/testserver"
)

// BenchmarkTransfer uploads and downloads one stream of ETCDBR_BENCH_SIZE
// bytes (default 1GiB; suffixes KiB, MiB, GiB) through Store.Put and
// Store.Get with the default segment size, beside a baseline in the same
// run: a plain gophercloud upload of the same bytes from a file, as one
// object, and its download. Each reports MB/s and the growth of peak
// resident memory over the resident memory before it.
//
//	ETCDBR_BENCH_SIZE=1GiB go test -run '^$' -bench Transfer -benchtime 1x ./providers/swift
func BenchmarkTransfer(b *testing.B) {
	size := benchSize(b)
	srv := testserver.StartSwift(b)
	admin := adminClient(b, srv)
	createContainer(b, admin, "bench")
	store := newTestStore(b, srv, "bench", "store", Options{})
	ctx := context.Background()

	path := filepath.Join(b.TempDir(), "baseline")
	writeRandomFile(b, path, size)

	b.Run("baseline-upload", func(b *testing.B) {
		measure(b, size, func() error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return objects.Create(ctx, admin, "bench", "baseline", objects.CreateOpts{Content: f, ContentLength: size}).Err
		})
	})
	b.Run("store-upload", func(b *testing.B) {
		measure(b, size, func() error { return store.Put(ctx, "stream", random(11, size)) })
	})
	b.Run("baseline-download", func(b *testing.B) {
		measure(b, size, func() error {
			res := objects.Download(ctx, admin, "bench", "baseline", nil)
			if res.Err != nil {
				return res.Err
			}
			defer res.Body.Close()
			return copyAll(res.Body, size)
		})
	})
	b.Run("store-download", func(b *testing.B) {
		measure(b, size, func() error {
			rc, err := store.Get(ctx, "stream")
			if err != nil {
				return err
			}
			defer rc.Close()
			return copyAll(rc, size)
		})
	})
}

// measure runs op in the benchmark loop and reports throughput and the
// peak resident memory growth while it ran.
func measure(b *testing.B, size int64, op func() error) {
	b.SetBytes(size)
	if err := memstat.ResetPeak(); err != nil {
		b.Fatal(err)
	}
	before, err := memstat.RSS()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	peak, err := memstat.PeakRSS()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak-before)/(1<<20), "peak-RSS-growth-MiB")
}

func copyAll(r io.Reader, want int64) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != want {
		err = fmt.Errorf("read %d bytes, want %d", n, want)
	}
	return err
}

func writeRandomFile(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, random(11, size)); err != nil {
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
	size, err := parseSize(raw)
	if err != nil {
		b.Fatalf("ETCDBR_BENCH_SIZE: %v", err)
	}
	return size
}

// parseSize reads a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive size (bytes, or a number with KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
