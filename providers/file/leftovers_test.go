package file_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"etcdbrctl/providers/file"
)

func TestRemoveLeftovers(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	s := newStore(t, root)
	for _, key := range []string{"a/obj", "x.part", "a/.hidden.part.x"} {
		if err := s.Put(ctx, key, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	files := []struct {
		path string
		old  bool
	}{
		{".top.123.part", true},             // removed
		{"a/.obj.456.part", true},           // removed, a/ stays for a/obj
		{"new/dir/.obj.789.part", true},     // removed with new/dir/ and new/
		{"a/.fresh.1.part", false},          // too recent
		{".dir.2.part/.inner.3.part", true}, // inside a directory this store never makes
		{"x.part", true},                    // an object, not a temporary file
	}
	for _, f := range files {
		full := filepath.Join(root, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.old {
			if err := os.Chtimes(full, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A Put in progress: its temporary file is being written.
	put := startPipePut(t, s, "a/growing")
	if _, err := put.w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}

	removed, err := s.RemoveLeftovers(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatalf("RemoveLeftovers: %v", err)
	}
	if removed != 3 {
		t.Errorf("RemoveLeftovers removed %d, want 3", removed)
	}
	got := tree(t, root)
	for _, gone := range []string{".top.123.part", "a/.obj.456.part", "new"} {
		if slices.Contains(got, gone) {
			t.Errorf("%s is still there", gone)
		}
	}
	for _, kept := range []string{"a/obj", "x.part", "a/.hidden.part.x", "a/.fresh.1.part", ".dir.2.part/.inner.3.part"} {
		if !slices.Contains(got, kept) {
			t.Errorf("%s was removed", kept)
		}
	}
	if !slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, "a/.growing.") }) {
		t.Errorf("the running Put's temporary file was removed: %q", got)
	}
	put.w.Close()
	if err := <-put.err; err != nil {
		t.Fatalf("the running Put failed: %v", err)
	}

	// With the grace period over, the recent file goes too.
	removed, err = s.RemoveLeftovers(ctx, time.Now().Add(time.Minute))
	if err != nil || removed != 1 {
		t.Errorf("second RemoveLeftovers = %d, %v; want 1", removed, err)
	}
}

func TestRemoveLeftoversMissingRoot(t *testing.T) {
	s := newStore(t, filepath.Join(t.TempDir(), "not-yet"))
	if n, err := s.RemoveLeftovers(t.Context(), time.Now()); n != 0 || err != nil {
		t.Errorf("RemoveLeftovers on a missing root = %d, %v; want 0, nil", n, err)
	}
}

type pipePut struct {
	w   *io.PipeWriter
	err chan error
}

// startPipePut runs a Put fed through the returned pipe.
func startPipePut(t *testing.T, s *file.Store, key string) pipePut {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := s.Put(t.Context(), key, pr)
		pr.CloseWithError(errors.New("Put returned"))
		errc <- err
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) })
	return pipePut{w: pw, err: errc}
}
