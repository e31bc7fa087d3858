package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"etcdbrctl/providers"
)

// downloadDB decodes a full snapshot into a bbolt file at path, without
// etcd's 32-byte SHA-256 trailer, which it checks on the way: against the
// database bytes and against the manifest. Nothing is left at path on error.
func downloadDB(ctx context.Context, store providers.Store, m Manifest, enc Encryption, path string) (err error) {
	rc, err := store.Get(ctx, m.Data)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", m.Data, err)
	}
	defer rc.Close()
	dec, err := newDecoder(contextReader{ctx, rc}, m, enc)
	if err != nil {
		return err
	}
	defer dec.Close()
	return writeDB(ctx, m, dec, dec.Verify, path)
}

// downloadForeignDB is downloadDB for a full snapshot another tool wrote.
func downloadForeignDB(ctx context.Context, src Source, m Manifest, path string) error {
	rc, err := src.OpenFull(ctx, m)
	if err != nil {
		return err
	}
	defer rc.Close()
	return writeDB(ctx, m, rc, func() error { return nil }, path)
}

// writeDB writes the database of a snapshot stream to path, checking and
// dropping etcd's trailer; verify checks the stored object once read.
func writeDB(ctx context.Context, m Manifest, dec io.Reader, verify func() error, path string) (err error) {

	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	tw := &trailerWriter{w: f, h: sha256.New()}
	if _, err := io.Copy(tw, dec); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := verify(); err != nil {
		return err
	}
	if tw.held != sha256.Size {
		return fmt.Errorf("%s: %w: %d bytes, too short for a snapshot", m.Data, ErrCorrupt, tw.n+int64(tw.held))
	}
	if m.DBSize > 0 && tw.n != m.DBSize {
		return fmt.Errorf("%s: %w: decoded %d database bytes, manifest says %d", m.Data, ErrCorrupt, tw.n, m.DBSize)
	}
	sum := tw.h.Sum(nil)
	if !bytes.Equal(sum, tw.tail[:]) {
		return fmt.Errorf("%s: %w: database sha256 %x, etcd's trailer says %x", m.Data, ErrCorrupt, sum, tw.tail)
	}
	if m.DBSHA256 != "" && m.DBSHA256 != hex.EncodeToString(sum) {
		return fmt.Errorf("%s: %w: database sha256 %x, manifest says %s", m.Data, ErrCorrupt, sum, m.DBSHA256)
	}
	return nil
}

// trailerWriter passes on all but the last sha256.Size bytes written to it,
// hashing what it passes; the held-back bytes are the trailer.
type trailerWriter struct {
	w    io.Writer
	h    hash.Hash
	n    int64 // bytes passed on
	tail [sha256.Size]byte
	held int
}

func (t *trailerWriter) Write(p []byte) (int, error) {
	total := len(p)
	if t.held+len(p) <= len(t.tail) {
		t.held += copy(t.tail[t.held:], p)
		return total, nil
	}
	// Of held+p, everything but the last len(tail) bytes goes out.
	out := t.held + len(p) - len(t.tail)
	fromTail := min(out, t.held)
	if err := t.emit(t.tail[:fromTail]); err != nil {
		return 0, err
	}
	copy(t.tail[:], t.tail[fromTail:t.held])
	t.held -= fromTail
	fromP := out - fromTail
	if err := t.emit(p[:fromP]); err != nil {
		return 0, err
	}
	t.held += copy(t.tail[t.held:], p[fromP:])
	return total, nil
}

func (t *trailerWriter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := t.w.Write(b)
	t.h.Write(b[:n])
	t.n += int64(n)
	return err
}

// syncTree fsyncs every file and directory under root, root included.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return syncPath(path)
	})
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
