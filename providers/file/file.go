// Package file stores backup objects as files in a local directory.
//
// A key is a slash-separated path relative to the root directory. An object is
// written to a temporary file beside its final name (".<name>.<random>.part"),
// synced, and renamed into place, so a reader or a listing only ever sees
// complete objects. Temporary files a crash leaves behind are never listed;
// RemoveLeftovers deletes them. Objects are created with mode 0o600 and directories
// with 0o700: backups can hold every secret stored in etcd.
package file

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"etcdbrctl/providers"
)

// ErrInvalidKey is matched by the error for a key the file store cannot hold.
var ErrInvalidKey = errors.New("invalid key")

const (
	dirMode    = 0o700
	tempSuffix = ".part"
	// tempStemMax keeps temporary names within the file name limit however
	// long the object's own name is.
	tempStemMax = 64
)

// Store is a providers.Store in a local directory.
type Store struct {
	root string
}

var _ providers.Store = (*Store)(nil)

// New returns a store rooted at root, made absolute. Nothing is created: a
// missing root is created by the first Put, but its parent must exist. An
// existing root must be a directory.
func New(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("file store: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file store: root %q: %w", root, err)
	}
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Only the last element may be missing: a missing parent is more
		// likely an unmounted volume than a place to create backups in.
		parent := filepath.Dir(abs)
		if pinfo, perr := os.Stat(parent); perr != nil || !pinfo.IsDir() {
			return nil, fmt.Errorf("file store: root %q: its parent %q is not an existing directory: %w",
				abs, parent, providers.ErrNotFound)
		}
	case err != nil:
		return nil, fmt.Errorf("file store: root: %w", classify(err))
	case !info.IsDir():
		return nil, fmt.Errorf("file store: root %q is not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// String returns the store's URL.
func (s *Store) String() string {
	return "file://" + s.root
}

// Put writes the object through a temporary file that is synced and renamed
// over the final name, then syncs the directory so the rename survives a crash.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (err error) {
	if err := validateKey(key); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("file store: put %q: %w", key, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	final := s.path(key)
	dir := filepath.Dir(final)
	tmp, err := createTemp(dir, filepath.Base(final))
	if err != nil {
		return classify(err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			s.removeEmptyDirs(dir)
		}
	}()
	src := &ctxReader{ctx: ctx, r: r}
	if _, err := io.Copy(tmp, src); err != nil {
		if src.err != nil {
			return src.err // the caller's own error, or ctx's: not about files
		}
		return classify(err)
	}
	if err := tmp.Sync(); err != nil {
		return classify(err)
	}
	if err := tmp.Close(); err != nil {
		return classify(err)
	}
	// A cancel that arrives after the last read still means "do not store".
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return classify(err)
	}
	// The object is in place; a failure here only means the rename might not
	// survive a power loss, which the caller should still hear about.
	return classify(syncDir(dir))
}

// createTemp creates the temporary file for an object named base in dir,
// creating dir as needed. It retries when a concurrent Delete removes the
// freshly created, still empty directory before the file is in it.
func createTemp(dir, base string) (*os.File, error) {
	pattern := "." + base[:min(len(base), tempStemMax)] + ".*" + tempSuffix
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, pattern) // mode 0o600
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		return f, err
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// ctxReader stops a copy at the first read after ctx is done, and remembers
// the error it returned so that Put can tell it from a file error. It also
// hides any WriterTo of the source, which io.Copy would otherwise use instead
// of calling Read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	if ctxErr := c.ctx.Err(); ctxErr != nil {
		n, err = 0, ctxErr
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// Get opens the object for reading. Reads do not watch ctx: they are local
// and the caller closes the file to stop.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("file store: get %q: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if gone(err) {
			err = notFound(err)
		}
		return nil, fmt.Errorf("file store: get %q: %w", key, classify(err))
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		// A directory is only a prefix of other keys, not an object.
		err = notFound(&fs.PathError{Op: "open", Path: f.Name(), Err: errors.New("not an object file")})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file store: get %q: %w", key, classify(err))
	}
	return f, nil
}

// List walks the directory that holds every key with prefix and returns the
// regular files under it (and symbolic links to regular files), temporary
// files excepted.
func (s *Store) List(ctx context.Context, prefix string) ([]providers.Object, error) {
	dirKey, _ := path.Split(prefix)
	dirKey = strings.TrimSuffix(dirKey, "/")
	if dirKey != "" && validateKey(dirKey) != nil {
		return nil, nil // no valid key lies under an invalid directory
	}
	// Resolved, because WalkDir does not descend into a symbolic link, and a
	// root that links to the real directory is a common setup.
	start, err := filepath.EvalSymlinks(s.path(dirKey))
	if gone(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("file store: list %q: %w", prefix, classify(err))
	}
	var objects []providers.Object
	err = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if gone(err) {
				return nil // deleted during the walk
			}
			return err
		}
		if p == start {
			return nil
		}
		if isTempName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(start, p)
		if err != nil {
			return err
		}
		key := path.Join(dirKey, filepath.ToSlash(rel))
		if d.IsDir() {
			if !mayHoldPrefix(key+"/", prefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := objectInfo(p, d)
		if gone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			objects = append(objects, providers.Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file store: list %q: %w", prefix, classify(err))
	}
	// The walk's order is by file name per directory, which differs from key
	// order ("a.x" sorts before "a/b").
	slices.SortFunc(objects, func(a, b providers.Object) int { return cmp.Compare(a.Key, b.Key) })
	return objects, nil
}

// mayHoldPrefix reports whether a directory whose keys all start with dirKey
// (ending in "/") can hold a key starting with prefix.
func mayHoldPrefix(dirKey, prefix string) bool {
	return strings.HasPrefix(dirKey, prefix) || strings.HasPrefix(prefix, dirKey)
}

func objectInfo(p string, d fs.DirEntry) (fs.FileInfo, error) {
	if d.Type()&fs.ModeSymlink != 0 {
		return os.Stat(p)
	}
	return d.Info()
}

// gone reports whether err means that a path does not exist, including a path
// running through a file as if it were a directory.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Delete removes the object and then the directories it leaves empty, up to
// but not including the root. A missing object, or a key that names a
// directory, is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file store: delete %q: %w", key, err)
	}
	p := s.path(key)
	info, err := os.Lstat(p)
	if gone(err) || err == nil && info.IsDir() {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !gone(err) {
		return fmt.Errorf("file store: delete %q: %w", key, classify(err))
	}
	s.removeEmptyDirs(filepath.Dir(p))
	return nil
}

// removeEmptyDirs removes dir and its parents up to but not including the
// root, stopping, as intended, at the first directory that still holds
// something, such as another object or a Put's temporary file.
func (s *Store) removeEmptyDirs(dir string) {
	for ; dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// validateKey rejects keys that would leave the root, are ambiguous, or could
// be mistaken for a temporary file.
func validateKey(key string) error {
	reason := ""
	switch {
	case key == "":
		reason = "empty"
	case strings.HasPrefix(key, "/"):
		reason = "absolute; keys are relative to the store root"
	case strings.ContainsRune(key, 0):
		reason = "contains a NUL byte"
	default:
		for seg := range strings.SplitSeq(key, "/") {
			switch {
			case seg == "":
				reason = "has an empty path segment"
			case seg == "." || seg == "..":
				reason = fmt.Sprintf("has a %q path segment", seg)
			case isTempName(seg):
				reason = fmt.Sprintf("segment %q has the form .*%s, reserved for temporary files", seg, tempSuffix)
			}
			if reason != "" {
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("file store: %w %q: %s", ErrInvalidKey, key, reason)
}

// isTempName reports whether a file name has the form of a temporary file.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, tempSuffix)
}

// classify adds the matching providers sentinel to an OS error and keeps the
// OS error, whose text names the path, as the message.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, providers.ErrNotFound), errors.Is(err, providers.ErrPermission):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return notFound(err)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return classified{err: err, kind: providers.ErrPermission}
	}
	return err
}

// notFound marks err as a missing object, for errors that fs does not count as
// missing, such as a key running through another object as if it were a
// directory.
func notFound(err error) error {
	return classified{err: err, kind: providers.ErrNotFound}
}

type classified struct {
	err  error
	kind error
}

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.err, c.kind} }
