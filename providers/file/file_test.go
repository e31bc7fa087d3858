package file_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
	"etcdbrctl/providers/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) providers.Store {
		return newStore(t, t.TempDir())
	})
}

func newStore(t *testing.T, root string) *file.Store {
	t.Helper()
	s, err := file.New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	return s
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		root     string
		wantRoot string // when New succeeds
		wantErr  string // part of the error otherwise
	}{
		{"existing directory", dir, dir, ""},
		{"missing directory", filepath.Join(dir, "root"), filepath.Join(dir, "root"), ""},
		{"missing parent", filepath.Join(dir, "missing", "root"), "", "is not an existing directory"},
		{"relative", "relative-root", filepath.Join(wd, "relative-root"), ""},
		{"empty", "", "", "empty root"},
		{"regular file", regular, "", "is not a directory"},
		// The real failure a root under a file gives, even to root.
		{"under a regular file", filepath.Join(regular, "root"), "", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := file.New(tt.root)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) = %v, want an error containing %q", tt.root, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.root, err)
			}
			if got, want := s.String(), "file://"+tt.wantRoot; got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			if _, err := os.Stat(tt.wantRoot); tt.root != dir && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("New(%q) created %s (stat: %v)", tt.root, tt.wantRoot, err)
			}
		})
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "root")
	s := newStore(t, root)
	for _, key := range []string{
		"",
		"/abs",
		"a//b",
		"a/",
		"./a",
		"a/./b",
		"../a",
		"a/../b",
		"a/..",
		".obj.123.part",
		"a/.obj.123.part/b",
		".part",
		"a\x00b",
	} {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			ops := map[string]error{
				"Put":    s.Put(ctx, key, strings.NewReader("x")),
				"Delete": s.Delete(ctx, key),
			}
			rc, err := s.Get(ctx, key)
			if err == nil {
				rc.Close()
			}
			ops["Get"] = err
			for op, err := range ops {
				if !errors.Is(err, file.ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want an error matching file.ErrInvalidKey", op, key, err)
				} else if !strings.Contains(err.Error(), strconv.Quote(key)) {
					t.Errorf("%s(%q) error %q does not name the key", op, key, err)
				}
			}
			if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("an invalid key created the root (stat: %v)", err)
			}
		})
	}
}

func TestUnusualValidKeys(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, t.TempDir())
	keys := []string{"a..b", "...", ".hidden", "x.part", ".part.x", "a b/c", `back\slash`, "*", ".*.part.x"}
	for _, key := range keys {
		if err := s.Put(ctx, key, strings.NewReader(key)); err != nil {
			t.Errorf("Put(%q): %v", key, err)
		}
	}
	objects, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(keys))
	if got := objectKeys(objects); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}

// A prefix that climbs out of the root must not list what lies outside it.
func TestListStaysInRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "outside"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, filepath.Join(dir, "root"))
	if err := s.Put(t.Context(), "inside", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"../", "../out", "/", "./", "a//"} {
		objects, err := s.List(t.Context(), prefix)
		if err != nil || len(objects) != 0 {
			t.Errorf("List(%q) = %v, %v; want nothing", prefix, objectKeys(objects), err)
		}
	}
}

func TestMissingRoot(t *testing.T) {
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "not-yet")
	s := newStore(t, root)

	objects, err := s.List(ctx, "")
	if err != nil || len(objects) != 0 {
		t.Errorf("List on a missing root = %v, %v; want an empty list", objects, err)
	}
	_, err = s.Get(ctx, "a/obj")
	if !errors.Is(err, providers.ErrNotFound) || !strings.Contains(err.Error(), `"a/obj"`) {
		t.Errorf("Get on a missing root = %v, want an error matching ErrNotFound naming the key", err)
	}
	if err := s.Delete(ctx, "a/obj"); err != nil {
		t.Errorf("Delete on a missing root: %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a missing root created it (stat: %v)", err)
	}

	if err := s.Put(ctx, "a/b/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		mode fs.FileMode
	}{
		{filepath.Join(root, "a"), fs.ModeDir | 0o700},
		{filepath.Join(root, "a", "b"), fs.ModeDir | 0o700},
		{filepath.Join(root, "a", "b", "obj"), 0o600},
	} {
		info, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode() != c.mode {
			t.Errorf("%s has mode %v, want %v", c.path, info.Mode(), c.mode)
		}
	}
}

func TestDeleteRemovesEmptyDirs(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := newStore(t, root)
	for _, key := range []string{"a/b/c/obj", "a/keep"} {
		if err := s.Put(ctx, key, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		delete string
		want   []string // every path left under root
	}{
		{"a/b", []string{"a", "a/b", "a/b/c", "a/b/c/obj", "a/keep"}}, // a directory is no object
		{"a/b/c/obj", []string{"a", "a/keep"}},
		{"a/keep", nil},
	}
	for _, step := range steps {
		if err := s.Delete(ctx, step.delete); err != nil {
			t.Fatalf("Delete(%q): %v", step.delete, err)
		}
		if got := tree(t, root); !slices.Equal(got, step.want) {
			t.Errorf("after Delete(%q), root holds %q, want %q", step.delete, got, step.want)
		}
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("root is gone after deleting everything: %v", err)
	}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	errBroken := errors.New("source broke")
	tests := []struct {
		name   string
		reader func(cancel context.CancelFunc) io.Reader
		want   error
	}{
		{"failing reader", func(context.CancelFunc) io.Reader {
			return io.MultiReader(strings.NewReader("partial"), errReader{errBroken})
		}, errBroken},
		{"cancelled mid-copy", func(cancel context.CancelFunc) io.Reader {
			return io.MultiReader(strings.NewReader("partial"), cancelReader{cancel}, strings.NewReader("more"))
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			s := newStore(t, root)
			if err := s.Put(t.Context(), "old/obj", strings.NewReader("old")); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"old/obj", "new/dir/obj"} {
				ctx, cancel := context.WithCancel(t.Context())
				err := s.Put(ctx, key, tt.reader(cancel))
				cancel()
				if !errors.Is(err, tt.want) {
					t.Errorf("Put(%q) = %v, want an error matching %v", key, err, tt.want)
				}
			}
			// No temporary file, and no directory made for the failed new key.
			if got, want := tree(t, root), []string{"old", "old/obj"}; !slices.Equal(got, want) {
				t.Errorf("after failed Puts, root holds %q, want %q", got, want)
			}
			if got, err := os.ReadFile(filepath.Join(root, "old", "obj")); string(got) != "old" || err != nil {
				t.Errorf("older object = %q, %v; want %q", got, err, "old")
			}
		})
	}
}

// A cancelled Put stops reading its source at once rather than draining it.
func TestCancelStopsReading(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newStore(t, t.TempDir())
	after := &countingReader{left: 1 << 20}
	err := s.Put(ctx, "obj", io.MultiReader(strings.NewReader("partial"), cancelReader{cancel}, after))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want an error matching context.Canceled", err)
	}
	// io.MultiReader moves to the next reader within the Read that cancelled.
	if after.reads > 1 {
		t.Errorf("Put read %d more times after the cancel, want at most 1", after.reads)
	}
}

// Files a crashed Put leaves behind are never listed, and never collide with
// an object.
func TestLeftoverTempFilesNotListed(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := newStore(t, root)
	if err := s.Put(ctx, "a/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/.obj.123456.part", ".top.1.part", ".dir.2.part/inner"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"", "a/", "a/.obj", "."} {
		objects, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		if strings.HasPrefix("a/obj", prefix) {
			want = []string{"a/obj"}
		}
		if got := objectKeys(objects); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	if err := s.Put(ctx, "a/obj", strings.NewReader("y")); err != nil {
		t.Errorf("Put beside a leftover temporary file: %v", err)
	}
}

func TestPutConflicts(t *testing.T) {
	tests := []struct {
		existing string
		put      string
	}{
		{"a", "a/b"}, // a parent is an object
		{"a/b", "a"}, // the name is a directory
	}
	for _, tt := range tests {
		t.Run(tt.existing+" then "+tt.put, func(t *testing.T) {
			ctx := t.Context()
			root := t.TempDir()
			s := newStore(t, root)
			if err := s.Put(ctx, tt.existing, strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			before := tree(t, root)
			if err := s.Put(ctx, tt.put, strings.NewReader("y")); err == nil {
				t.Fatalf("Put(%q) beside %q succeeded, want an error", tt.put, tt.existing)
			}
			if got := tree(t, root); !slices.Equal(got, before) {
				t.Errorf("failed Put changed the root: %q, want %q", got, before)
			}
		})
	}
}

func TestSymlinkedRoot(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, link)
	if err := s.Put(ctx, "a/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "a/"} {
		objects, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if got := objectKeys(objects); !slices.Equal(got, []string{"a/obj"}) {
			t.Errorf("List(%q) through a linked root = %q, want [a/obj]", prefix, got)
		}
	}
}

// permissionRootEnv hands the prepared store root to the unprivileged copy of
// this test binary that TestPermissionDenied starts when it runs as root.
const permissionRootEnv = "FILESTORE_TEST_PERMISSION_ROOT"

// TestPermissionDenied needs access checks that apply. Root bypasses file
// modes, so when the tests run as root the checks run in a copy of this test
// binary started as the unprivileged user "nobody".
func TestPermissionDenied(t *testing.T) {
	if root := os.Getenv(permissionRootEnv); root != "" {
		if os.Geteuid() == 0 {
			t.Fatal("the unprivileged run is still root")
		}
		checkPermissionDenied(t, root)
		return
	}
	root := preparePermissionTree(t)
	if os.Geteuid() != 0 {
		checkPermissionDenied(t, root)
		return
	}
	runUnprivileged(t, root)
}

// preparePermissionTree builds, under root: ro/ (0o555) holding ro/obj (0o000),
// and locked/ (0o000).
func preparePermissionTree(t *testing.T) string {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	s := newStore(t, root)
	for _, key := range []string{"ro/obj", "locked/obj"} {
		if err := s.Put(t.Context(), key, strings.NewReader("secret")); err != nil {
			t.Fatal(err)
		}
	}
	modes := []struct {
		path string
		mode fs.FileMode
	}{
		// The test's own temporary directories must let another user through.
		{filepath.Dir(base), 0o711},
		{base, 0o711},
		{root, 0o755},
		{filepath.Join(root, "ro", "obj"), 0},
		{filepath.Join(root, "ro"), 0o555},
		{filepath.Join(root, "locked"), 0},
	}
	for _, m := range modes {
		if err := os.Chmod(m.path, m.mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // so that the temporary directory can be removed
		for _, m := range modes {
			os.Chmod(m.path, 0o700)
		}
	})
	return root
}

func checkPermissionDenied(t *testing.T, root string) {
	ctx := t.Context()
	s := newStore(t, root)
	// Proves the tree is reachable, so the failures below come from the
	// modes set on purpose and not from a directory above the root.
	objects, err := s.List(ctx, "ro/")
	if err != nil || !slices.Equal(objectKeys(objects), []string{"ro/obj"}) {
		t.Fatalf("List(ro/) = %v, %v; want [ro/obj]", objectKeys(objects), err)
	}
	tests := []struct {
		name     string
		op       func() error
		wantPath string
	}{
		{"Put into a read-only directory", func() error {
			return s.Put(ctx, "ro/new", strings.NewReader("x"))
		}, filepath.Join(root, "ro")},
		{"Put that needs a directory in a read-only one", func() error {
			return s.Put(ctx, "ro/sub/new", strings.NewReader("x"))
		}, filepath.Join(root, "ro", "sub")},
		{"Get of an unreadable object", func() error {
			rc, err := s.Get(ctx, "ro/obj")
			if err == nil {
				rc.Close()
			}
			return err
		}, filepath.Join(root, "ro", "obj")},
		{"Delete from a read-only directory", func() error {
			return s.Delete(ctx, "ro/obj")
		}, filepath.Join(root, "ro", "obj")},
		{"List of an unreadable directory", func() error {
			_, err := s.List(ctx, "locked/")
			return err
		}, filepath.Join(root, "locked")},
		{"List of everything", func() error {
			_, err := s.List(ctx, "")
			return err
		}, filepath.Join(root, "locked")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if !errors.Is(err, providers.ErrPermission) {
				t.Fatalf("got %v, want an error matching providers.ErrPermission", err)
			}
			if !strings.Contains(err.Error(), tt.wantPath) {
				t.Errorf("error %q does not name %s", err, tt.wantPath)
			}
		})
	}
}

// runUnprivileged reruns TestPermissionDenied as "nobody" from a copy of the
// test binary that such a user may execute.
func runUnprivileged(t *testing.T, root string) {
	uid, gid := uint32(65534), uint32(65534)
	if u, err := user.Lookup("nobody"); err == nil {
		if id, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			uid = uint32(id)
		}
		if id, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			gid = uint32(id)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(binDir), 0o711); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "file.test")
	copyFile(t, self, bin, 0o755)

	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestPermissionDenied$", "-test.v")
	cmd.Env = append(withoutCoverage(os.Environ()), permissionRootEnv+"="+root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot start a process as an unprivileged user to make file modes apply: %v", err)
	}
	if err != nil {
		t.Fatalf("unprivileged run: %v\n%s", err, out)
	}
	t.Logf("unprivileged run:\n%s", out)
	if !bytes.Contains(out, []byte("--- PASS: TestPermissionDenied")) {
		t.Fatalf("unprivileged run did not pass the test:\n%s", out)
	}
}

func withoutCoverage(env []string) []string {
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOCOVERDIR=") })
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// tree lists every path under root, slash-separated and sorted.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		paths = append(paths, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func objectKeys(objects []providers.Object) []string {
	var keys []string
	for _, o := range objects {
		keys = append(keys, o.Key)
	}
	return keys
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// countingReader supplies left bytes and counts the calls.
type countingReader struct {
	left  int
	reads int
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.reads++
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	clear(p[:n])
	r.left -= n
	return n, nil
}

// cancelReader cancels the Put's context when reached and ends, so that an
// io.MultiReader moves on to more data as a live source would.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}
