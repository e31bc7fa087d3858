package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// quarantineTimeFormat stamps a quarantined directory with the UTC time.
const quarantineTimeFormat = "20060102T150405Z"

// maxQuarantineSuffix bounds the search for a free name; reaching it means
// something is creating quarantines in a loop.
const maxQuarantineSuffix = 1000

// Quarantine moves dir aside to "<dir>.quarantine-<UTC time>", adding
// "-1", "-2", ... when that name is taken, makes the rename durable and
// returns the new path. It never deletes and never replaces anything,
// including an earlier quarantine.
//
// If the rename succeeded but could not be made durable, the new path is
// returned together with the error.
func Quarantine(dir string, now time.Time) (string, error) {
	dir = filepath.Clean(dir)
	base := dir + ".quarantine-" + now.UTC().Format(quarantineTimeFormat)
	for n := 0; n <= maxQuarantineSuffix; n++ {
		target := base
		if n > 0 {
			target = fmt.Sprintf("%s-%d", base, n)
		}
		err := renameNoReplace(dir, target)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("datadir: quarantine: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return target, fmt.Errorf("datadir: quarantine %s: moved to %s, but: %w", dir, target, err)
		}
		return target, nil
	}
	return "", fmt.Errorf("datadir: quarantine %s: %s and %d numbered variants all exist", dir, base, maxQuarantineSuffix)
}
