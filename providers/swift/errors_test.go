package swift

import (
	"errors"
	"strings"
	"testing"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

func testErrorMapping(t *testing.T, srv testserver.SwiftServer) {
	ctx := t.Context()
	loc := providers.Location{Scheme: "swift", Bucket: "extra", Prefix: "errors"}
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-key-XYZ"
		_, err := newStore(ctx, loc, Options{}, v1Env(srv.AuthURL, srv.User, wrong))
		if !errors.Is(err, providers.ErrPermission) {
			t.Fatalf("New with a wrong password = %v, want an error matching ErrPermission", err)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error %q shows the password", err)
		}
	})
	t.Run("no access to the container", func(t *testing.T) {
		s, err := newStore(ctx, loc, Options{}, v1Env(srv.AuthURL, srv.ReadOnlyUser, srv.ReadOnlyKey))
		if err != nil {
			t.Fatal(err)
		}
		_, listErr := s.List(ctx, "")
		_, getErr := s.Get(ctx, "obj")
		putErr := s.Put(ctx, "obj", strings.NewReader("x"))
		for op, err := range map[string]error{"List": listErr, "Get": getErr, "Put": putErr} {
			if !errors.Is(err, providers.ErrPermission) {
				t.Errorf("%s = %v, want an error matching ErrPermission", op, err)
			} else if !strings.Contains(err.Error(), `"extra"`) {
				t.Errorf("%s error %q does not name the container", op, err)
			}
			if err != nil && strings.Contains(err.Error(), srv.ReadOnlyKey) {
				t.Errorf("%s error %q shows the key", op, err)
			}
		}
	})
	t.Run("missing container", func(t *testing.T) {
		s := newTestStore(t, srv, "no-such-container", "", Options{})
		_, listErr := s.List(ctx, "")
		_, getErr := s.Get(ctx, "obj")
		putErr := s.Put(ctx, "obj", strings.NewReader("x"))
		for op, err := range map[string]error{"List": listErr, "Get": getErr, "Put": putErr} {
			if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), `"no-such-container"`) {
				t.Errorf("%s = %v, want an error matching ErrNotFound naming the container", op, err)
			}
		}
		if err := s.Delete(ctx, "obj"); err != nil {
			t.Errorf("Delete in a missing container = %v, want nil (nothing to delete)", err)
		}
	})
	t.Run("bad store URL or options", func(t *testing.T) {
		for _, loc := range []providers.Location{
			{Scheme: "s3", Bucket: "b"},
			{Scheme: "swift"},
			{Scheme: "swift", Bucket: "b", Query: map[string][]string{"endpoint": {"x"}}},
		} {
			if _, err := newStore(ctx, loc, Options{}, v1Env(srv.AuthURL, srv.User, srv.Key)); err == nil {
				t.Errorf("New(%s) succeeded, want an error", loc)
			}
		}
		for _, opts := range []Options{{SegmentSize: 1000}, {SegmentSize: 6 << 30}, {SegmentContainer: "extra"}, {SegmentContainer: "a/b"}} {
			if _, err := newStore(ctx, loc, opts, v1Env(srv.AuthURL, srv.User, srv.Key)); err == nil {
				t.Errorf("New with %+v succeeded, want an error", opts)
			}
		}
	})
}

// testCredentialFilesReread rotates the files under a running store.
func testCredentialFilesReread(t *testing.T, srv testserver.SwiftServer) {
	ctx := t.Context()
	dir := t.TempDir()
	write := func(user, key string) {
		writeFiles(t, dir, map[string]string{"authURL": srv.AuthURL, "username": user, "password": key})
	}
	write(srv.User, srv.Key)
	loc := providers.Location{Scheme: "swift", Bucket: "extra", Prefix: "rotation"}
	s, err := newStore(ctx, loc, Options{}, envOf(map[string]string{credentialsDirEnv: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "obj", strings.NewReader("x")); err != nil {
		t.Fatalf("Put with the first credentials: %v", err)
	}
	write(srv.ReadOnlyUser, srv.ReadOnlyKey)
	if _, err := s.List(ctx, ""); !errors.Is(err, providers.ErrPermission) {
		t.Fatalf("List after switching to a user without access = %v, want ErrPermission", err)
	}
	write(srv.User, "wrong-key")
	if _, err := s.List(ctx, ""); !errors.Is(err, providers.ErrPermission) {
		t.Fatalf("List with a wrong key in the files = %v, want ErrPermission", err)
	}
	write(srv.User, srv.Key)
	if objs, err := s.List(ctx, ""); err != nil || len(objs) != 1 {
		t.Fatalf("List after restoring the credentials = %v, %v", objs, err)
	}
	if err := s.Delete(ctx, "obj"); err != nil {
		t.Fatal(err)
	}
}
