package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// cleanStopMarker is the file, inside the data directory, that says etcd
// stopped cleanly.
const cleanStopMarker = ".etcdbrctl-clean-stop"

const cleanStopText = "etcd stopped cleanly; etcdbrctl removes this file before it starts etcd again\n"

// MarkCleanStop records in dir that etcd stopped cleanly. Call it only
// after etcd has stopped and released the directory.
func MarkCleanStop(dir string) error {
	path := filepath.Join(dir, cleanStopMarker)
	if err := os.WriteFile(path, []byte(cleanStopText), 0o600); err != nil {
		return fmt.Errorf("datadir: mark clean stop: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("datadir: mark clean stop: %w", err)
	}
	return nil
}

// TakeCleanStop reports whether dir holds a clean-stop marker and removes
// it, durably, so that a crash of the etcd about to start leaves none. A
// missing dir has no marker.
func TakeCleanStop(dir string) (bool, error) {
	path := filepath.Join(dir, cleanStopMarker)
	info, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		// No marker, or dir is a file: Validate reports the latter.
		return false, nil
	case err != nil:
		return false, fmt.Errorf("datadir: take clean stop: %w", err)
	case !info.Mode().IsRegular():
		return false, fmt.Errorf("datadir: take clean stop: %s is not a regular file", path)
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("datadir: take clean stop: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return false, fmt.Errorf("datadir: take clean stop: %w", err)
	}
	return true, nil
}
