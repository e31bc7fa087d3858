package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/internal/memstat"
	"etcdbrctl/internal/testserver"
)

// BenchmarkTransfer moves one object of ETCDBR_BENCH_SIZE bytes (default
// 1GiB) through versitygw on loopback: Store.Put of a generated stream and
// Store.Get, beside the plain SDK uploading the same bytes from a file
// (manager.Uploader, which reads parts straight from the file) and reading
// them back with one GetObject. Each phase reports MB/s and how far resident
// memory rose above where it started.
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/s3
func BenchmarkTransfer(b *testing.B) {
	size := benchSize(b)
	srv := testserver.StartS3(b)
	useServerKeys(b, srv)
	bucket := srv.CreateBucket(b)
	store := newTestStore(b, srv.Endpoint, bucket, "store", Options{})

	file := filepath.Join(b.TempDir(), "object")
	writeBenchFile(b, file, size)
	sdk := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	uploader := manager.NewUploader(sdk, func(u *manager.Uploader) {
		u.PartSize = DefaultPartSize
		u.Concurrency = DefaultConcurrency
	})
	ctx := context.Background()

	for b.Loop() {
		measure(b, "sdk-file-put", size, func() error {
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = uploader.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/object"), Body: f})
			return err
		})
		measure(b, "store-put", size, func() error {
			return store.Put(ctx, "object", pseudoRandom(1, size))
		})
		measure(b, "sdk-get", size, func() error {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/object")})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			return copyExactly(out.Body, size)
		})
		measure(b, "store-get", size, func() error {
			rc, err := store.Get(ctx, "object")
			if err != nil {
				return err
			}
			defer rc.Close()
			return copyExactly(rc, size)
		})
	}
}

// measure runs one phase and reports its throughput and peak memory growth.
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

func copyExactly(r io.Reader, size int64) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != size {
		err = fmt.Errorf("read %d bytes, want %d", n, size)
	}
	return err
}

func writeBenchFile(b *testing.B, path string, size int64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, pseudoRandom(1, size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchSize reads ETCDBR_BENCH_SIZE: bytes, or a number with KiB, MiB or GiB.
func benchSize(b *testing.B) int64 {
	raw := strings.TrimSpace(os.Getenv("ETCDBR_BENCH_SIZE"))
	if raw == "" {
		return 1 << 30
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}, {"", 0}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(raw, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				break
			}
			return n << u.shift
		}
	}
	b.Fatalf("ETCDBR_BENCH_SIZE=%q: want a positive size such as 1GiB, 256MiB or 1048576", raw)
	return 0
}
