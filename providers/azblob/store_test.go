package azblob

import (
	"errors"
	"strings"
	"testing"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
	"etcdbrctl/providers/storetest"
)

// Small blocks make the suite's larger objects cross many block boundaries.
var smallBlocks = Options{BlockSize: 1 << 20, Concurrency: 3}

// clearCredentialEnv makes a test see only the credentials it sets itself.
func clearCredentialEnv(t *testing.T) {
	for _, name := range []string{
		"AZURE_APPLICATION_CREDENTIALS_JSON", "AZURE_APPLICATION_CREDENTIALS",
		"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
	} {
		t.Setenv(name, "")
	}
}

// openStore opens url against srv with the development account's key.
func openStore(t *testing.T, srv *testserver.Azurite, url string, opts Options) *Store {
	t.Helper()
	clearCredentialEnv(t)
	t.Setenv("AZURE_STORAGE_KEY", testserver.AzuriteKey)
	return openWithEnv(t, srv, url, opts)
}

// openWithEnv opens url against srv with the credentials the environment
// holds.
func openWithEnv(t *testing.T, srv *testserver.Azurite, url string, opts Options) *Store {
	t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	loc, err := providers.ParseURL(url + sep + "endpoint=" + srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), loc, opts)
	if err != nil {
		t.Fatalf("New(%s): %v", loc, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	storetest.Run(t, func(t *testing.T) providers.Store {
		return openStore(t, srv, "azblob://backups/etcd/main?account="+testserver.AzuriteAccount, smallBlocks)
	})
}

func TestNotFound(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	ctx := t.Context()

	missing := openStore(t, srv, "azblob://no-such-container/p?account="+testserver.AzuriteAccount, Options{})
	if _, err := missing.List(ctx, ""); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("List in a missing container = %v, want an error matching ErrNotFound", err)
	} else if !strings.Contains(err.Error(), "no-such-container") {
		t.Errorf("List in a missing container: error %q does not name the container", err)
	}

	s := openStore(t, srv, "azblob://backups/p?account="+testserver.AzuriteAccount, Options{})
	_, err := s.Get(ctx, "dir/missing")
	if !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want an error matching ErrNotFound", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "backups/p/dir/missing") || strings.Contains(msg, "\n") {
		t.Errorf("error %q is not one line naming the container and key", msg)
	}
}

// A wrong key is refused by the server: every operation's error matches
// ErrPermission and shows no key.
func TestWrongKey(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	ctx := t.Context()
	good := openStore(t, srv, "azblob://backups/p?account="+testserver.AzuriteAccount, Options{})
	if err := good.Put(ctx, "obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}

	clearCredentialEnv(t)
	const wrongKey = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
	t.Setenv("AZURE_STORAGE_KEY", wrongKey)
	bad := openWithEnv(t, srv, "azblob://backups/p?account="+testserver.AzuriteAccount, Options{})
	ops := map[string]func() error{
		"Put":    func() error { return bad.Put(ctx, "other", strings.NewReader("y")) },
		"Get":    func() error { _, err := bad.Get(ctx, "obj"); return err },
		"List":   func() error { _, err := bad.List(ctx, ""); return err },
		"Delete": func() error { return bad.Delete(ctx, "obj") },
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, providers.ErrPermission) {
			t.Errorf("%s with a wrong key = %v, want an error matching ErrPermission", name, err)
			continue
		}
		if strings.Contains(err.Error(), wrongKey) || strings.Contains(err.Error(), testserver.AzuriteKey) {
			t.Errorf("%s: error %q shows a key", name, err)
		}
	}
	objects, err := good.List(ctx, "")
	if err != nil || len(objects) != 1 || objects[0].Key != "obj" {
		t.Errorf("after refused requests, List = %v, %v; want only obj", objects, err)
	}
}
