package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StagingDir creates a fresh, empty directory beside dir, named
// ".<base>.staging-<random>", for building a data directory that Install
// then renames into place. Being beside dir keeps it on the same
// filesystem, so the rename is atomic. The parent of dir is created if
// missing.
func StagingDir(dir string) (string, error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	// etcd creates missing parents of its data directory with these bits.
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("datadir: staging directory: %w", err)
	}
	staged, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".staging-")
	if err != nil {
		return "", fmt.Errorf("datadir: staging directory: %w", err)
	}
	return staged, nil
}

// Install renames the directory staged to dir and makes the rename
// durable. dir must not exist: Install never replaces a directory, so an
// existing one has to be quarantined first.
func Install(staged, dir string) error {
	staged, dir = filepath.Clean(staged), filepath.Clean(dir)
	info, err := os.Stat(staged)
	if err != nil {
		return fmt.Errorf("datadir: install: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("datadir: install: %s is not a directory", staged)
	}

	if err := renameNoReplace(staged, dir); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("datadir: install %s: %s already exists; quarantine it first: %w", staged, dir, err)
		}
		return fmt.Errorf("datadir: install: %w", err)
	}

	parents := []string{filepath.Dir(dir)}
	if p := filepath.Dir(staged); p != parents[0] {
		parents = append(parents, p)
	}
	for _, p := range parents {
		if err := syncDir(p); err != nil {
			return fmt.Errorf("datadir: install %s: %w", dir, err)
		}
	}
	return nil
}
