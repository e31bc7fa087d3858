package gcs

import (
	"errors"
	"strings"
	"testing"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
	"etcdbrctl/providers/storetest"
)

// smallChunks makes the suite's larger objects cross many chunk boundaries.
const smallChunks = 256 << 10

func openStore(t *testing.T, endpoint, url string, opts Options) *Store {
	t.Helper()
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	loc, err := providers.ParseURL(url + "?endpoint=" + endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), loc, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", loc, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := testserver.StartFakeGCS(t, "backups")
	storetest.Run(t, func(t *testing.T) providers.Store {
		return openStore(t, srv.Endpoint, "gs://backups/etcd/main", Options{ChunkSize: smallChunks})
	})
}

func TestNotFound(t *testing.T) {
	srv := testserver.StartFakeGCS(t, "backups")
	ctx := t.Context()

	missing := openStore(t, srv.Endpoint, "gs://no-such-bucket/p", Options{})
	if _, err := missing.List(ctx, ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("List in a missing bucket = %v, want an error matching ErrNotFound", err)
	} else if !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("List in a missing bucket: error %q does not name the bucket", err)
	}
	if _, err := missing.Get(ctx, "k"); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Get in a missing bucket = %v, want an error matching ErrNotFound", err)
	}

	s := openStore(t, srv.Endpoint, "gs://backups/p", Options{})
	_, err := s.Get(ctx, "dir/missing")
	if !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want an error matching ErrNotFound", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "gs://backups/p/dir/missing") {
		t.Errorf("error %q does not name the bucket and key", msg)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"s3://b/p", `scheme "s3"`},
		{"gs://b/p?region=x", `unknown parameter "region"`},
		{"gs://b/p?endpoint=ftp://h", "endpoint"},
		{"gs://b/p?endpoint=http://u:pw@127.0.0.1:1", "without user"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			loc, err := providers.ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(t.Context(), loc, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q) = %v, want an error containing %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
