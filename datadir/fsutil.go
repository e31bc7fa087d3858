package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// renameIfAbsent renames oldpath to newpath unless newpath exists. Between
// the check and the rename another process could create newpath; callers
// use it only where atomic no-replace renames are unavailable.
func renameIfAbsent(oldpath, newpath string) error {
	_, err := os.Lstat(newpath)
	switch {
	case err == nil:
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return os.Rename(oldpath, newpath)
}

// syncDir makes the entries of dir (a rename, a removal) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}
