package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

const mib = 1 << 20

// isolateAWSEnv keeps the SDK away from this machine's AWS configuration and
// from instance metadata, for the rest of the test.
func isolateAWSEnv(t testing.TB) {
	for _, name := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
		"AWS_CA_BUNDLE", envCredentialsDir, envCredentialsJSON,
	} {
		t.Setenv(name, "")
	}
	none := filepath.Join(t.TempDir(), "no-such-file")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// useServerKeys isolates the environment and gives it srv's root keys.
func useServerKeys(t testing.TB, srv *testserver.S3Server) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
}

func locationFor(t testing.TB, endpoint, bucket, prefix string) providers.Location {
	t.Helper()
	raw := fmt.Sprintf("s3://%s/%s?endpoint=%s&force-path-style=true", bucket, prefix, url.QueryEscape(endpoint))
	loc, err := providers.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func newTestStore(t testing.TB, endpoint, bucket, prefix string, opts Options) *Store {
	t.Helper()
	s, err := New(context.Background(), locationFor(t, endpoint, bucket, prefix), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// pseudoRandom gives size deterministic bytes for seed without holding them.
func pseudoRandom(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(mathrand.NewChaCha8(key), size)
}

func sha256Of(t testing.TB, r io.Reader) (string, int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// checkObject checks that key holds the bytes of pseudoRandom(seed, size).
func checkObject(t testing.TB, s *Store, key string, seed uint64, size int64) {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	got, n := sha256Of(t, rc)
	want, _ := sha256Of(t, pseudoRandom(seed, size))
	if got != want || n != size {
		t.Fatalf("Get(%q) = %d bytes with sha256 %s, want %d bytes with sha256 %s", key, n, got, size, want)
	}
}

// listKeys lists the store under prefix and returns keys and sizes.
func listKeys(t testing.TB, s *Store, prefix string) map[string]int64 {
	t.Helper()
	objects, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	got := make(map[string]int64, len(objects))
	for _, o := range objects {
		got[o.Key] = o.Size
	}
	return got
}

// incompleteUploads lists the bucket's multipart uploads under prefix
// (a full S3 key prefix), straight from the server.
func incompleteUploads(t testing.TB, s *Store, prefix string) []types.MultipartUpload {
	t.Helper()
	out, err := s.client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if aws.ToBool(out.IsTruncated) {
		t.Fatal("ListMultipartUploads: more than one page in a test")
	}
	return out.Uploads
}

// signallingReader passes r through and closes reached once at least
// after bytes were read. With block set, it then waits for ctx to end
// and fails with ctx's error, as a source fed by the same context would.
type signallingReader struct {
	r       io.Reader
	after   int64
	block   bool
	ctx     context.Context
	read    int64
	reached chan struct{}
	once    sync.Once
}

func newSignallingReader(ctx context.Context, r io.Reader, after int64, block bool) *signallingReader {
	return &signallingReader{r: r, after: after, block: block, ctx: ctx, reached: make(chan struct{})}
}

func (s *signallingReader) Read(p []byte) (int, error) {
	if s.read >= s.after {
		s.once.Do(func() { close(s.reached) })
		if s.block {
			<-s.ctx.Done()
			return 0, s.ctx.Err()
		}
	}
	if rest := s.after - s.read; rest > 0 && int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	s.read += int64(n)
	return n, err
}

// waitReached waits for the reader's signal or the Put's end.
func waitReached(t testing.TB, r *signallingReader, done <-chan error) {
	t.Helper()
	select {
	case <-r.reached:
	case err := <-done:
		t.Fatalf("Put returned %v before reading %d bytes", err, r.after)
	case <-time.After(2 * time.Minute):
		t.Fatal("Put read nothing for 2 minutes")
	}
}
