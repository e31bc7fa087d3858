package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Paths inside a data directory, as etcd lays it out. Reasons name them in
// this slash form whatever the platform.
const (
	memberPath = "member"
	snapPath   = "member/snap"
	walPath    = "member/wal"
	dbPath     = "member/snap/db"
)

// defaultLockTimeout is how long Validate waits for the db's file lock. A
// live etcd holds it for as long as it runs; a process that just exited has
// released it, so a few seconds tell the two apart.
const defaultLockTimeout = 5 * time.Second

// validator carries the settings of a validation; tests shorten the lock
// timeout through it.
type validator struct {
	lockTimeout time.Duration
}

// Validate inspects the etcd data directory dir without modifying it. A
// missing directory, or an existing empty one, is Empty. What is wrong with
// the directory is reported in the Report; the error is only for a check
// that could not be carried out (ctx ended, a permission denied).
//
// If ctx ends during a full check, Validate returns at once while bbolt's
// read-only check finishes in the background; it holds only a shared lock
// on the db until then.
func Validate(ctx context.Context, dir string, mode Mode) (Report, error) {
	return validator{lockTimeout: defaultLockTimeout}.validate(ctx, dir, mode)
}

func (v validator) validate(ctx context.Context, dir string, mode Mode) (Report, error) {
	report := Report{Dir: dir, Mode: mode}
	if mode != Sanity && mode != Full {
		return report, fmt.Errorf("datadir: validate %s: unknown mode %v", dir, mode)
	}
	if err := ctx.Err(); err != nil {
		return report, err
	}

	state, reason, err := inspectLayout(dir)
	if err != nil {
		return report, fmt.Errorf("datadir: validate %s: %w", dir, err)
	}
	if state != Valid {
		report.State, report.Reason = state, reason
		return report, nil
	}

	found, err := v.inspectDB(ctx, filepath.Join(dir, filepath.FromSlash(dbPath)), mode)
	if err != nil {
		return report, fmt.Errorf("datadir: validate %s: %w", dir, err)
	}
	report.State, report.Revision = found.state, found.revision
	if found.reason != "" {
		report.Reason = dbPath + ": " + found.reason
	}
	return report, nil
}

// inspectLayout checks the files and directories etcd needs, without
// opening the db. It reports Valid when the db is worth opening.
func inspectLayout(dir string) (State, string, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Empty, "", nil
	case err != nil:
		return 0, "", err
	case !info.IsDir():
		return Invalid, "not a directory", nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, "", err
	}
	if len(entries) == 0 {
		return Empty, "", nil
	}

	for _, sub := range []string{memberPath, snapPath, walPath} {
		reason, err := requireDir(dir, sub)
		if err != nil || reason != "" {
			return Invalid, reason, err
		}
	}

	wals, err := countWALFiles(filepath.Join(dir, filepath.FromSlash(walPath)))
	if err != nil {
		return 0, "", err
	}
	if wals == 0 {
		return Invalid, walPath + ": no .wal files", nil
	}

	info, err = os.Stat(filepath.Join(dir, filepath.FromSlash(dbPath)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Invalid, dbPath + ": missing", nil
	case err != nil:
		return 0, "", err
	case !info.Mode().IsRegular():
		return Invalid, dbPath + ": not a regular file", nil
	case info.Size() == 0:
		return Invalid, dbPath + ": empty (0 bytes)", nil
	}
	return Valid, "", nil
}

// requireDir returns a reason when dir/sub is not a directory.
func requireDir(dir, sub string) (string, error) {
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(sub)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sub + ": missing", nil
	case err != nil:
		return "", err
	case !info.IsDir():
		return sub + ": not a directory", nil
	}
	return "", nil
}

func countWALFiles(walDir string) (int, error) {
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".wal") {
			n++
		}
	}
	return n, nil
}
