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
		lock, locked, err := lockDir(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if locked {
			return &Staging{Path: path, Removed: removed, lock: lock}, nil
		}
		if lock != nil {
			lock.Close()
		}
	}
	return nil, fmt.Errorf("datadir: staging directory beside %s: another restore keeps removing it", dir)
}

// Close removes what is left of the staging directory (nothing, after an
// Install of it) and releases its lock.
func (s *Staging) Close() error {
	err := os.RemoveAll(s.Path)
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
		lock, locked, err := lockDir(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, err
		}
		if locked {
			err = os.RemoveAll(path)
		}
		lock.Close()
		if err != nil {
			return removed, fmt.Errorf("datadir: remove leftover staging directory: %w", err)
		}
		if locked {
			removed = append(removed, path)
		}
	}
	return removed, nil
}

// lockDir takes an exclusive flock on the directory at path without
// waiting. locked is false when another open file holds it, or when path
// was replaced or removed after it was opened.
func lockDir(path string) (f *os.File, locked bool, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return f, false, nil
		}
		f.Close()
		return nil, false, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	opened, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("datadir: lock %s: %w", path, err)
	}
	now, err := os.Lstat(path)
	if err != nil || !os.SameFile(opened, now) {
		return f, false, nil
	}
	return f, true, nil
}
