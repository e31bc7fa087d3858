package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Install renames the directory staged (a Staging's Path, or a directory
// built inside it) to dir and makes the rename
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
