package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Staging is a directory beside a data directory where a restore is built
// before Install moves it into place. It is locked (flock) while open, and
// the kernel drops the lock when its process dies, so what a killed
// restore leaves behind is recognisable as a leftover: the next Stage of
// the same data directory removes it, instead of letting repeated crashes
// fill the disk with partial restores.
type Staging struct {
	// Path is the staging directory, ".<base>.staging-<random>" beside the
	// data directory: on the same filesystem, so Install's rename is atomic.
	Path string
	// Removed lists the leftovers of earlier restores Stage removed.
	Removed []string

	lock *os.File
}

const stagingInfix = ".staging-"

// errNoLocks: the filesystem does not support flock.
var errNoLocks = errors.New("the filesystem has no file locks")

// noLocks tells the errors of flock on a filesystem without it.
func noLocks(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOLCK) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// Stage removes the unlocked staging directories of earlier restores of
// dir and creates a fresh, empty, locked one. The parent of dir is created
// if missing. What a leftover held was only ever built from backups, never
// a data directory etcd ran on, so it is removed, not quarantined.
func Stage(dir string) (*Staging, error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	// etcd creates missing parents of its data directory with these bits.
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: staging directory: %w", err)
	}
	removed, err := RemoveLeftoverStaging(dir)
	if err != nil {
		return nil, err
	}
	// Another process's Stage may remove a directory between its creation
	// and its lock; then try a new name.
	for range 3 {
		path, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+stagingInfix)
		if err != nil {
			return nil, fmt.Errorf("datadir: staging directory: %w", err)
		}
		lock, err := lockDir(path)
		switch {
		case errors.Is(err, errNoLocks):
			// The restore runs unlocked; its leftovers cannot be told
			// from a live restore, so they are never removed.
			return &Staging{Path: path, Removed: removed}, nil
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			os.Remove(path)
			return nil, err
		case lock != nil:
			return &Staging{Path: path, Removed: removed, lock: lock}, nil
		}
	}
	return nil, fmt.Errorf("datadir: staging directory beside %s: another restore keeps removing it", dir)
}

// Close removes what is left of the staging directory (nothing, after an
// Install of it) and releases its lock.
func (s *Staging) Close() error {
	err := os.RemoveAll(s.Path)
	if s.lock == nil {
		return err
	}
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return err
}

// RemoveLeftoverStaging removes the staging directories of dir that no
// live process holds locked, and returns their paths.
func RemoveLeftoverStaging(dir string) ([]string, error) {
	parent, prefix := filepath.Dir(dir), "."+filepath.Base(dir)+stagingInfix
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("datadir: look for leftover staging directories: %w", err)
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		lock, err := lockDir(path)
		switch {
		case errors.Is(err, os.ErrNotExist), err == nil && lock == nil:
			continue // gone meanwhile, or a live restore's
		case errors.Is(err, errNoLocks):
			return removed, nil
		case err != nil:
			return removed, err
		}
		err = os.RemoveAll(path)
		lock.Close()
		if err != nil {
			return removed, fmt.Errorf("datadir: remove leftover staging directory: %w", err)
		}
		removed = append(removed, path)
	}
	return removed, nil
}

// lockDir takes an exclusive flock on the directory at path without
// waiting, and returns the open directory holding it; nil when another
// open file holds it, or when path was replaced or removed meanwhile.
func lockDir(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			return nil, nil
		case noLocks(err):
			return nil, fmt.Errorf("datadir: lock %s: %w (%w)", path, errNoLocks, err)
		}
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	opened, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if now, err := os.Lstat(path); err != nil || !os.SameFile(opened, now) {
		f.Close()
		return nil, nil
	}
	return f, nil
}
