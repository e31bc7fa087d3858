package datadir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"
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
	return Check(ctx, dir, Options{Mode: mode})
}

// Options say how deeply Check looks and what it compares the directory
// with.
type Options struct {
	Mode Mode `json:"mode"`
	// NewestBackupRevision is the revision of the newest backup. A
	// directory that stays below it even after etcd would replay its WAL
	// is Invalid (CodeBehind): a stale disk, or a volume from the past.
	// 0 skips the comparison.
	NewestBackupRevision int64 `json:"newest_backup_revision,omitempty"`
	// NewestBackupTime is when that backup was taken. A directory whose
	// owner marker records a restore after it was restored on purpose,
	// possibly to an older point, and is not compared with it.
	NewestBackupTime time.Time `json:"newest_backup_time,omitzero"`
	// Expect is the configured member. A directory that belongs to
	// another cluster or member, by its owner marker or by the IDs its
	// WAL was written with, is Foreign.
	Expect Expectation `json:"expect"`
}

// Check is Validate with the comparisons of opts. It reads the directory
// only: a torn WAL tail etcd would cut off, or a snap file it would
// rename aside, is judged as etcd would judge it, without the change.
func Check(ctx context.Context, dir string, opts Options) (Report, error) {
	return validator{lockTimeout: defaultLockTimeout}.check(ctx, dir, opts)
}

func (v validator) validate(ctx context.Context, dir string, mode Mode) (Report, error) {
	return v.check(ctx, dir, Options{Mode: mode})
}

func (v validator) check(ctx context.Context, dir string, opts Options) (Report, error) {
	mode := opts.Mode
	report := Report{Dir: dir, Mode: mode, NewestBackupRevision: opts.NewestBackupRevision}
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
		if state == Invalid {
			report.Code = CodeLayout
		}
		return report, nil
	}

	walDir := filepath.Join(dir, filepath.FromSlash(walPath))
	ids, idsErr := readWALIDs(walDir)
	if idsErr == nil {
		report.ClusterID, report.MemberID = ids.cluster.String(), ids.member.String()
	}
	marker, foreign, err := checkOwnership(dir, ids, idsErr, opts.Expect)
	if err != nil || foreign != "" {
		report.State, report.Code, report.Reason = Foreign, CodeWrongVolume, foreign
		return report, err
	}
	if marker != nil && !marker.RestoredAt.IsZero() && !opts.NewestBackupTime.IsZero() &&
		!marker.RestoredAt.Before(opts.NewestBackupTime) {
		// Restored after the newest backup was taken: whatever point it
		// was restored to is the one wanted.
		report.NewestBackupRevision = 0
	}

	dbFile := filepath.Join(dir, filepath.FromSlash(dbPath))
	found, err := v.inspectDB(ctx, dbFile, mode)
	if err != nil {
		return report, fmt.Errorf("datadir: validate %s: %w", dir, err)
	}
	report.State, report.Revision, report.ConsistentIndex = found.state, found.revision, found.consistentIndex
	if found.reason != "" {
		report.Reason = dbPath + ": " + found.reason
		report.Code = CodeDB
		if found.state == InUse {
			report.Code = CodeInUse
		}
	}
	if report.State != Valid {
		return report, nil
	}

	if mode == Full {
		if reason, err := checkMetaPages(dbFile); err != nil || reason != "" {
			report.fail(CodeDB, dbPath+": "+reason)
			return report, err
		}
		if idsErr != nil {
			report.fail(CodeWAL, walPath+": "+idsErr.Error())
			return report, nil
		}
		if len(found.members) > 0 && !slices.Contains(found.members, ids.member.String()) {
			report.fail(CodeIndex, fmt.Sprintf("%s: the members bucket lacks member %s, which the WAL was written by: "+
				"the db and the WAL come from different members", dbPath, ids.member))
			return report, nil
		}
	}

	if mode == Full || report.NewestBackupRevision > report.Revision {
		if err := v.replay(ctx, dir, mode, &report); err != nil {
			return report, fmt.Errorf("datadir: validate %s: %w", dir, err)
		}
		if report.State != Valid {
			return report, nil
		}
	}
	return report, nil
}

// replay reads the WAL and snap files as etcd would when starting on dir.
// Full mode reports their damage and their disagreement with the db; both
// modes compare the revision the directory would reach with the newest
// backup. Sanity mode makes no judgement on what it cannot read: without
// the WAL it cannot tell a stale directory from a fresh one.
func (v validator) replay(ctx context.Context, dir string, mode Mode, report *Report) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	walDir := filepath.Join(dir, filepath.FromSlash(walPath))
	full := mode == Full
	choice, err := chooseSnapshot(dir, full)
	if err == nil && full {
		if _, verr := wal.Verify(zap.NewNop(), walDir, choice.snap); verr != nil {
			err = walProblemf("%s: %v", walPath, verr)
		}
	}
	var replayed walReplay
	if err == nil {
		replayed, err = replayWAL(walDir, choice.snap, report.ConsistentIndex)
	}
	var walBad *walProblem
	var snapBad *snapProblem
	switch {
	case err == nil:
	case !full:
		return nil
	case errors.As(err, &snapBad):
		report.fail(CodeSnap, snapBad.reason)
		return nil
	case errors.As(err, &walBad):
		report.fail(CodeWAL, walBad.reason)
		return nil
	default:
		return err
	}
	report.SnapshotIndex, report.WALLastIndex = choice.snap.Index, replayed.lastIndex
	report.PendingRevisions = replayed.pending

	ci := report.ConsistentIndex
	switch {
	case !full || ci == 0:
		// An index of 0 means the db predates etcd recording it.
	case ci < choice.snap.Index && !choice.hasDB:
		report.fail(CodeIndex, fmt.Sprintf("%s: applied up to raft index %d, but etcd would start from the snapshot at %d "+
			"and %s has no db file for it", dbPath, ci, choice.snap.Index, snapPath))
		return nil
	case ci > replayed.lastIndex:
		report.fail(CodeIndex, fmt.Sprintf("%s: applied up to raft index %d, but %s ends at %d: "+
			"the WAL lost entries the db holds", dbPath, ci, walPath, replayed.lastIndex))
		return nil
	}

	newest := report.NewestBackupRevision
	if reach := report.Revision + replayed.pending; newest > 0 && reach < newest {
		report.fail(CodeBehind, fmt.Sprintf("at revision %d (at most %d after replaying %d WAL entries), "+
			"older than the newest backup at %d: a stale disk or a volume from the past",
			report.Revision, reach, replayed.pending, newest))
	}
	return nil
}

// fail marks r Invalid with a reason.
func (r *Report) fail(code Code, reason string) {
	r.State, r.Code, r.Reason = Invalid, code, reason
}

// checkOwnership returns dir's owner marker, if any, and a reason when dir
// belongs to another cluster or member than expect describes.
func checkOwnership(dir string, ids walIDs, idsErr error, expect Expectation) (*Owner, string, error) {
	marker, ok, err := ReadOwner(dir)
	if err != nil {
		return nil, "", err
	}
	var mp *Owner
	if ok {
		mp = &marker
	}
	var ip *walIDs
	if idsErr == nil {
		ip = &ids
	}
	reason, err := ownership(mp, ip, expect)
	if err != nil {
		return nil, "", fmt.Errorf("datadir: %w", err)
	}
	return mp, reason, nil
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
