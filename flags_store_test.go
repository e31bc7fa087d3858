package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"etcdbrctl/providers"
)

func TestComposeStoreURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider, container, prefix, endpoint string
		want                                  string // the URL, or a piece of the error
		wantErr                               bool
	}{
		{"S3", "etcd-backup", "", "", "s3://etcd-backup", false},
		{"s3", "etcd-backup", "shoot/etcd-main", "", "s3://etcd-backup/shoot/etcd-main", false},
		{"S3", "b", "/v2/", "", "s3://b/v2", false},
		{"S3", "b", "p", "http://127.0.0.1:9000", "s3://b/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000", false},
		{"ECS", "b", "", "https://ecs.example:9021", "s3://b?endpoint=https%3A%2F%2Fecs.example%3A9021", false},
		{"ocs", "b", "", "", "s3://b", false},
		{"GCS", "bucket", "etcd", "", "gs://bucket/etcd", false},
		{"gcs", "bucket", "", "http://127.0.0.1:4443", "gs://bucket?endpoint=http%3A%2F%2F127.0.0.1%3A4443", false},
		{"ABS", "container", "etcd", "", "azblob://container/etcd", false},
		{"abs", "container", "", "http://127.0.0.1:10000/devstoreaccount1", "azblob://container?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Fdevstoreaccount1", false},
		{"Swift", "c", "p/q", "", "swift://c/p/q", false},
		{"SWIFT", "c", "", "", "swift://c", false},
		{"Local", "/var/backups", "", "", "file:///var/backups", false},
		{"local", "/var/backups", "etcd/main", "", "file:///var/backups/etcd/main", false},
		{"LOCAL", "rel/dir", "", "", "file://" + filepath.Join(wd, "rel/dir"), false},
		{"Local", "/dir with space", "", "", "file:///dir%20with%20space", false},

		{"FTP", "b", "", "", "not known", true},
		{"OSS", "b", "", "", "S3-compatible", true},
		{"", "b", "", "", "not known", true},
		{"S3", "", "", "", "needs --store-container", true},
		{"Local", "", "", "", "needs --store-container", true},
		{"S3", "b/sub", "", "", "put folders in --store-prefix", true},
		{"S3", "b:9000", "", "", "not a bucket", true},
		{"S3", "user@b", "", "", "not a bucket", true},
		{"S3", " b", "", "", "not a bucket", true},
		{"S3", "b", "a//c", "", "--store-prefix", true},
		{"GCS", "b", "a/../c", "", "--store-prefix", true},
		{"S3", "b", "", "127.0.0.1:9000", "http:// or https://", true},
		{"S3", "b", "", "ftp://host", "http:// or https://", true},
		{"S3", "b", "", "https://", "http:// or https://", true},
		{"S3", "b", "", "https://key:secret@host", "credentials", true},
		{"Local", "/d", "", "http://127.0.0.1:1", "does not apply", true},
	} {
		got, err := composeStoreURL(tc.provider, tc.container, tc.prefix, tc.endpoint)
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("%s %q %q %q = %s, want an error mentioning %q", tc.provider, tc.container, tc.prefix, tc.endpoint, got, tc.want)
		case tc.wantErr && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s %q %q %q: error %q does not mention %q", tc.provider, tc.container, tc.prefix, tc.endpoint, err, tc.want)
		case tc.wantErr && strings.Contains(err.Error(), "secret"):
			t.Errorf("error repeats a secret: %v", err)
		case !tc.wantErr && err != nil:
			t.Errorf("%s %q %q %q: %v", tc.provider, tc.container, tc.prefix, tc.endpoint, err)
		case !tc.wantErr && got != tc.want:
			t.Errorf("%s %q %q %q = %s, want %s", tc.provider, tc.container, tc.prefix, tc.endpoint, got, tc.want)
		}
		if tc.wantErr {
			continue
		}
		// What is composed is what --store would have been given.
		loc, err := providers.ParseURL(got)
		if err != nil {
			t.Errorf("composed URL %s does not parse: %v", got, err)
			continue
		}
		if loc.Scheme != "file" && (loc.Bucket != tc.container || loc.Prefix != strings.Trim(tc.prefix, "/") || loc.Query.Get("endpoint") != tc.endpoint) {
			t.Errorf("composed URL %s parses to %+v", got, loc)
		}
	}
}

func TestStoreURLChoice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		flags    storeFlags
		want     string
		flag     string
		errPiece string
	}{
		{"default", storeFlags{}, "./backups", "--store", ""},
		{"store", storeFlags{Store: "file:///b"}, "file:///b", "--store", ""},
		{"provider", storeFlags{StorageProvider: "S3", StoreContainer: "b"}, "s3://b", "--storage-provider", ""},
		{"both", storeFlags{Store: "/b", StorageProvider: "Local", StoreContainer: "/c"}, "", "--storage-provider", "either --store or --storage-provider"},
		{"container alone", storeFlags{StoreContainer: "b"}, "", "--store-container", "needs --storage-provider"},
		{"prefix alone", storeFlags{Store: "/b", StorePrefix: "p"}, "", "--store-prefix", "needs --storage-provider"},
		{"endpoint alone", storeFlags{StoreEndpointOverride: "http://127.0.0.1:1"}, "", "--store-endpoint-override", "needs --storage-provider"},
		{"bad provider", storeFlags{StorageProvider: "Tape", StoreContainer: "b"}, "", "--storage-provider", "not known"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, flag, err := tc.flags.storeURL()
			if tc.errPiece != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPiece) || !errors.As(err, new(usageError)) {
					t.Fatalf("storeURL = %q, %v; want a usage error mentioning %q", got, err, tc.errPiece)
				}
			} else if err != nil || got != tc.want {
				t.Fatalf("storeURL = %q, %v; want %q", got, err, tc.want)
			}
			if flag != tc.flag {
				t.Errorf("errors would name %s, want %s", flag, tc.flag)
			}
		})
	}
}

// TestLocalProviderStore: --storage-provider Local opens the directory
// container/prefix, which then holds what is written.
func TestLocalProviderStore(t *testing.T) {
	dir := t.TempDir()
	f := storeFlags{StorageProvider: "local", StoreContainer: dir, StorePrefix: "etcd/main"}
	if err := os.MkdirAll(filepath.Join(dir, "etcd"), 0o700); err != nil {
		t.Fatal(err)
	}
	store, _, err := f.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(context.Background(), "probe", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd", "main", "probe")); err != nil {
		t.Fatalf("the object is not in container/prefix: %v", err)
	}
}

// TestGardenerFlagNames: --endpoints and STORAGE_CONTAINER reach the same
// settings as --etcd-endpoints and --store-container.
func TestGardenerFlagNames(t *testing.T) {
	t.Setenv("STORAGE_CONTAINER", "from-env")
	var c cli
	parser, err := kong.New(&c, kong.DefaultEnvars("ETCDBR"), kong.Writers(io.Discard, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"snapshot", "--endpoints", "http://127.0.0.1:1,http://127.0.0.1:2", "--storage-provider", "S3"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Snapshot.EtcdEndpoints; len(got) != 2 || got[1] != "http://127.0.0.1:2" {
		t.Errorf("--endpoints gave %v", got)
	}
	if got := c.Snapshot.StoreContainer; got != "from-env" {
		t.Errorf("STORAGE_CONTAINER gave %q", got)
	}
	if raw, _, err := c.Snapshot.storeURL(); err != nil || raw != "s3://from-env" {
		t.Errorf("store URL %q, %v", raw, err)
	}
}
