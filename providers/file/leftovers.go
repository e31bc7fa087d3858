package file

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"etcdbrctl/providers"
)

var _ providers.LeftoverRemover = (*Store)(nil)

// RemoveLeftovers deletes the temporary files (".<name>.<random>.part") that
// Puts interrupted by a crash left behind, if last modified before
// olderThan, and then the directories that removal leaves empty. A Put still
// writing keeps touching its file, so a grace period longer than the
// slowest pause between writes keeps it safe. Directories named like a
// temporary file, which this store never makes, are left alone.
func (s *Store) RemoveLeftovers(ctx context.Context, olderThan time.Time) (int, error) {
	start, err := filepath.EvalSymlinks(s.root)
	if gone(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("file store: removing leftovers: %w", classify(err))
	}
	removed := 0
	var emptied []string
	err = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if gone(err) {
				return nil
			}
			return err
		}
		if !isTempName(d.Name()) || p == start {
			return nil
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if gone(err) {
			return nil // finished or removed meanwhile
		}
		if err != nil {
			return err
		}
		if !info.ModTime().Before(olderThan) {
			return nil
		}
		if err := os.Remove(p); err != nil && !gone(err) {
			return err
		}
		removed++
		emptied = append(emptied, filepath.Dir(p))
		return nil
	})
	for _, dir := range emptied {
		s.removeEmptyDirs(filepath.Join(s.root, mustRel(start, dir)))
	}
	if err != nil {
		return removed, fmt.Errorf("file store: removing leftovers: %w", classify(err))
	}
	return removed, nil
}

// mustRel is dir relative to base; dir always lies under base here.
func mustRel(base, dir string) string {
	rel, err := filepath.Rel(base, dir)
	if err != nil {
		return "."
	}
	return rel
}
