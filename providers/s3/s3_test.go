package s3

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
	"etcdbrctl/providers/storetest"
)

// startServer starts versitygw for one top-level test, with its keys in the
// environment, and logs how long the start took.
func startServer(t *testing.T) *testserver.S3Server {
	start := time.Now()
	srv := testserver.StartS3(t)
	t.Logf("versitygw ready in %s", time.Since(start).Round(time.Millisecond))
	useServerKeys(t, srv)
	return srv
}

func TestConformance(t *testing.T) {
	srv := startServer(t)
	bucket := srv.CreateBucket(t)
	storetest.Run(t, func(t *testing.T) providers.Store {
		// 5 MiB parts: the suite's 6 MiB, 9 MiB and 33 MiB objects become
		// multipart uploads.
		return newTestStore(t, srv.Endpoint, bucket, "etcd/backups", Options{PartSize: MinPartSize, Concurrency: 2})
	})
}

func TestErrorMapping(t *testing.T) {
	srv := startServer(t)
	bucket := srv.CreateBucket(t)
	good := newTestStore(t, srv.Endpoint, bucket, "p", Options{})
	if err := good.Put(t.Context(), "exists", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}

	t.Run("missing bucket", func(t *testing.T) {
		s := newTestStore(t, srv.Endpoint, "no-such-bucket", "p", Options{})
		ops := map[string]error{
			"Get":  getErr(s.Get(t.Context(), "exists")),
			"List": listErr(s.List(t.Context(), "")),
			"Put":  s.Put(t.Context(), "k", strings.NewReader("x")),
		}
		for op, err := range ops {
			if !errors.Is(err, providers.ErrNotFound) {
				t.Errorf("%s in a missing bucket = %v, want an error matching providers.ErrNotFound", op, err)
			}
			if err != nil && !strings.Contains(err.Error(), `"no-such-bucket"`) {
				t.Errorf("%s error %q does not name the bucket", op, err)
			}
		}
	})

	t.Run("missing key names bucket and key", func(t *testing.T) {
		_, err := good.Get(t.Context(), "absent")
		if !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get(absent) = %v, want providers.ErrNotFound", err)
		}
		for _, want := range []string{`"p/absent"`, `"` + bucket + `"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %s", err, want)
			}
		}
	})

	keys := []struct{ name, access, secret string }{
		{"wrong secret", srv.AccessKey, "wrong-secret-value-1234"},
		{"unknown access key", "NOSUCHACCESSKEY", "another-wrong-secret-5678"},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", k.access)
			t.Setenv("AWS_SECRET_ACCESS_KEY", k.secret)
			s := newTestStore(t, srv.Endpoint, bucket, "p", Options{})
			ops := map[string]error{
				"Get":    getErr(s.Get(t.Context(), "exists")),
				"List":   listErr(s.List(t.Context(), "")),
				"Put":    s.Put(t.Context(), "k", strings.NewReader("x")),
				"Delete": s.Delete(t.Context(), "exists"),
			}
			for op, err := range ops {
				if !errors.Is(err, providers.ErrPermission) {
					t.Errorf("%s with a %s = %v, want an error matching providers.ErrPermission", op, k.name, err)
					continue
				}
				for _, secret := range []string{k.secret, srv.SecretKey} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s error shows a secret: %q", op, err)
					}
				}
			}
		})
	}
	// The refused Delete must not have deleted anything.
	if got := listKeys(t, good, ""); got["exists"] != 4 {
		t.Errorf("after refused operations, listing = %v, want exists (4 bytes)", got)
	}
}

func getErr(rc interface{ Close() error }, err error) error {
	if err == nil {
		rc.Close()
	}
	return err
}

func listErr(_ []providers.Object, err error) error { return err }

// A Put cancelled after some parts went up leaves neither an object nor an
// incomplete upload: Put aborts it with a context of its own.
func TestCancelledMultipartUpload(t *testing.T) {
	srv := startServer(t)
	bucket := srv.CreateBucket(t)
	s := newTestStore(t, srv.Endpoint, bucket, "cancel", Options{PartSize: MinPartSize, Concurrency: 2})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Past two parts: the upload exists and holds parts when ctx ends.
	r := newSignallingReader(ctx, pseudoRandom(1, 64*mib), 12*mib, true)
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, "obj", r) }()
	waitReached(t, r, done)
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put = %v, want an error matching context.Canceled", err)
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Errorf("after a cancelled Put, List = %v, want nothing", got)
	}
	if ups := incompleteUploads(t, s, "cancel/"); len(ups) != 0 {
		t.Errorf("after a cancelled Put, %d incomplete uploads remain; Put should abort them", len(ups))
	}
	n, err := s.RemoveLeftovers(t.Context(), time.Now().Add(time.Hour))
	if err != nil || n != 0 {
		t.Errorf("RemoveLeftovers = %d, %v; want 0, nil", n, err)
	}
}

func TestRemoveLeftovers(t *testing.T) {
	srv := startServer(t)
	bucket := srv.CreateBucket(t)
	s := newTestStore(t, srv.Endpoint, bucket, "mine", Options{})
	other := newTestStore(t, srv.Endpoint, bucket, "mine-not", Options{})

	start := func(st *Store, key string) {
		t.Helper()
		_, err := st.client.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(st.objectKey(key)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	start(s, "a")
	start(s, "sub/b")
	start(other, "c") // shares the string prefix "mine" but not "mine/"
	if err := s.Put(t.Context(), "complete", strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	ups := incompleteUploads(t, s, "mine/")
	if len(ups) != 2 {
		t.Fatalf("set-up: %d uploads under mine/, want 2", len(ups))
	}
	oldest := aws.ToTime(ups[0].Initiated)
	for _, u := range ups[1:] {
		if i := aws.ToTime(u.Initiated); i.Before(oldest) {
			oldest = i
		}
	}

	steps := []struct {
		name      string
		olderThan time.Time
		removed   int
		left      int
	}{
		{"all newer", time.Now().Add(-time.Hour), 0, 2},
		{"boundary is not older", oldest, 0, 2},
		{"all older", time.Now().Add(time.Hour), 2, 0},
		{"nothing left", time.Now().Add(time.Hour), 0, 0},
	}
	for _, st := range steps {
		n, err := s.RemoveLeftovers(t.Context(), st.olderThan)
		if err != nil {
			t.Fatalf("%s: RemoveLeftovers: %v", st.name, err)
		}
		if n != st.removed {
			t.Errorf("%s: RemoveLeftovers removed %d, want %d", st.name, n, st.removed)
		}
		if got := len(incompleteUploads(t, s, "mine/")); got != st.left {
			t.Errorf("%s: %d uploads left under mine/, want %d", st.name, got, st.left)
		}
	}
	if got := len(incompleteUploads(t, s, "mine-not/")); got != 1 {
		t.Errorf("the upload of another prefix: %d left, want 1", got)
	}
	if got := listKeys(t, s, ""); got["complete"] != 4 || len(got) != 1 {
		t.Errorf("complete objects after RemoveLeftovers: %v, want complete (4 bytes)", got)
	}
}
