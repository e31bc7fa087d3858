package testserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/sys/unix"
)

// S3Server is a versitygw S3 gateway over a local directory (its posix
// backend: a bucket is a directory, an object a file with xattrs).
type S3Server struct {
	Addr      string // 127.0.0.1:PORT
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
	Dir       string // the directory holding the buckets
	Proc      *Proc
}

// StartS3 runs versitygw on a free loopback port with a fresh root account,
// waits until it answers signed requests, and stops it when the test ends.
// The server starts with no bucket; see CreateBucket.
func StartS3(tb testing.TB) *S3Server {
	tb.Helper()
	bin := Tool(tb, "versitygw")
	dir := filepath.Join(tb.TempDir(), "s3")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := probeXattr(dir); err != nil {
		Unavailable(tb, "versitygw needs user extended attributes on %s: %v", dir, err)
	}
	port := strconv.Itoa(FreePort(tb))
	s := &S3Server{
		Addr:      "127.0.0.1:" + port,
		Endpoint:  "http://127.0.0.1:" + port,
		Region:    "us-east-1",
		AccessKey: "TESTACCESS" + randomHex(tb, 5),
		SecretKey: "test-secret-" + randomHex(tb, 16),
		Dir:       dir,
	}
	cmd := exec.Command(bin, "--port", s.Addr, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "posix", dir)
	// The root account comes from the flags only, never from the environment.
	cmd.Env = filterEnv(os.Environ(), "ROOT_ACCESS_KEY_ID", "ROOT_ACCESS_KEY", "ROOT_SECRET_ACCESS_KEY", "ROOT_SECRET_KEY")
	s.Proc = Start(tb, "versitygw", cmd)
	s.Proc.WaitReady(tb, 20*time.Second, func() error {
		return s.do(context.Background(), http.MethodGet, "/", http.StatusOK)
	})
	return s
}

// CreateBucket creates a bucket with a fresh name and returns the name.
func (s *S3Server) CreateBucket(tb testing.TB) string {
	tb.Helper()
	name := "test-" + randomHex(tb, 8)
	s.CreateBucketNamed(tb, name)
	return name
}

// CreateBucketNamed creates the bucket name.
func (s *S3Server) CreateBucketNamed(tb testing.TB, name string) {
	tb.Helper()
	if err := s.do(context.Background(), http.MethodPut, "/"+name, http.StatusOK); err != nil {
		tb.Fatalf("create bucket %q: %v", name, err)
	}
}

// do sends a signed request without a body and checks its status.
func (s *S3Server) do(ctx context.Context, method, path string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.Endpoint+path, nil)
	if err != nil {
		return err
	}
	emptySum := sha256.Sum256(nil)
	payloadHash := hex.EncodeToString(emptySum[:])
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "s3", s.Region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
	}
	return nil
}

// probeXattr checks that dir's filesystem takes user extended attributes.
func probeXattr(dir string) error {
	err := unix.Setxattr(dir, "user.etcdbrctl.probe", []byte("1"), 0)
	if err != nil {
		return err
	}
	if err := unix.Removexattr(dir, "user.etcdbrctl.probe"); err != nil && !errors.Is(err, unix.ENODATA) {
		return err
	}
	return nil
}

func filterEnv(env []string, drop ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, name := range drop {
			if len(kv) > len(name) && kv[:len(name)+1] == name+"=" {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
