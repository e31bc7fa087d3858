package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/backup/gardener"
	"etcdbrctl/datadir"
	"etcdbrctl/providers"
)

// ErrNoBackup is returned when a restore is needed and the store has no full snapshot.
var ErrNoBackup = errors.New("the store holds no full snapshot")

// Restorer puts a data directory back from the store.
type Restorer struct {
	Store      providers.Store
	Encryption backup.Encryption
	Member     backup.Member
	// Expect is the configured member: a data dir that belongs to another
	// cluster or member is refused with ErrWrongVolume, never touched.
	Expect datadir.Expectation
	// ValidationMode picks the check Prepare runs.
	ValidationMode ValidationMode
	Log            *slog.Logger
	Zap            *zap.Logger // for etcd's restore code; nil discards its log
	// Validate checks a data dir; nil means datadir.Check in this process.
	Validate func(ctx context.Context, dir string, opts datadir.Options) (datadir.Report, error)

	// restoring, when set, is called just before a restore begins, so the
	// daemon can report the phase.
	restoring func()
}

// ValidationMode picks how Prepare checks the data dir.
type ValidationMode int

const (
	// ValidateByCleanStop runs the sanity check after a clean stop (known
	// from the marker written on shutdown) and the full one otherwise.
	ValidateByCleanStop ValidationMode = iota
	// ValidateSanity always runs the sanity check.
	ValidateSanity
	// ValidateFull always runs the full check.
	ValidateFull
)

func (r Restorer) validate(ctx context.Context, dir string, opts datadir.Options) (datadir.Report, error) {
	if r.Validate != nil {
		return r.Validate(ctx, dir, opts)
	}
	return datadir.Check(ctx, dir, opts)
}

// Restored says what a restore did.
type Restored struct {
	Manifest    backup.Manifest // the full snapshot the restore started from
	Revision    int64           // the revision restored, deltas applied
	Quarantined string          // where the replaced data directory went, if there was one
}

// newestRestorable returns the plan of a restore to the newest state the
// store holds (the newest full snapshot and the deltas after it), which is
// also the newest state a data dir can be compared with.
func (r Restorer) newestRestorable(ctx context.Context) (backup.Plan, error) {
	p, err := PlanRestore(ctx, r.Store, backup.Target{})
	if errors.Is(err, backup.ErrNoFull) {
		return p, fmt.Errorf("%v: %w", r.Store, ErrNoBackup)
	}
	return p, err
}

// PlanRestore plans a restore to target from the backups in store: this
// tool's own, or, when the store holds none, those gardener's
// etcd-backup-restore wrote, so its users keep their history.
func PlanRestore(ctx context.Context, store providers.Store, target backup.Target) (backup.Plan, error) {
	p, err := backup.PlanRestore(ctx, store, target)
	if !errors.Is(err, backup.ErrNoFull) {
		return p, err
	}
	gp, gerr := gardener.PlanRestore(ctx, store, target)
	if errors.Is(gerr, backup.ErrNoFull) {
		return p, err
	}
	return gp, gerr
}

// planTime is when the newest backup of a plan was started.
func planTime(p backup.Plan) time.Time {
	if n := len(p.Deltas); n > 0 {
		return p.Deltas[n-1].Time
	}
	return p.Full.Time
}

// RestoreLatest restores the newest backup at dir. The restore is built and
// checked in a staging directory beside dir; only then is an existing dir
// moved aside (quarantined, never deleted) and the new one renamed into place.
func (r Restorer) RestoreLatest(ctx context.Context, dir string) (Restored, error) {
	p, err := r.newestRestorable(ctx)
	if err != nil {
		return Restored{}, err
	}
	return r.restoreFrom(ctx, dir, p)
}

func (r Restorer) restoreFrom(ctx context.Context, dir string, p backup.Plan) (Restored, error) {
	m := p.Full
	// Leftovers of restores that died go first, so they count as free space.
	staging, err := datadir.Stage(dir)
	if err != nil {
		return Restored{}, err
	}
	defer staging.Close()
	r.logRemoved(staging.Removed)
	if err := checkSpace(dir, m); err != nil {
		return Restored{}, err
	}
	r.Log.Info("restoring", "backup", m.Name(), "deltas", len(p.Deltas), "revision", p.Revision,
		"stored_bytes", p.StoredBytes(), "dir", dir)
	built := filepath.Join(staging.Path, "data")
	opts := backup.RestoreOptions{Encryption: r.Encryption, Member: r.Member, Log: r.Zap,
		Progress: backup.LogProgress(r.Log, 10*time.Second)}
	if _, err := backup.Restore(ctx, r.Store, p, opts, built); err != nil {
		return Restored{}, err
	}
	report, err := datadir.Validate(ctx, built, datadir.Sanity)
	if err != nil {
		return Restored{}, err
	}
	if report.State != datadir.Valid || report.Revision != p.Revision {
		return Restored{}, fmt.Errorf("restored data dir does not check out (state %s, revision %d, want %d): %s",
			report.State, report.Revision, p.Revision, report.Reason)
	}
	if _, err := datadir.RecordRestore(built, r.Member.Name, p.Revision, time.Now()); err != nil {
		return Restored{}, err
	}

	res := Restored{Manifest: m, Revision: p.Revision}
	switch empty, err := isEmptyDir(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return Restored{}, err
	case empty:
		if err := os.Remove(dir); err != nil {
			return Restored{}, err
		}
	default:
		q, err := datadir.Quarantine(dir, time.Now().UTC())
		if err != nil {
			return Restored{}, fmt.Errorf("quarantine %s: %w", dir, err)
		}
		res.Quarantined = q
		r.Log.Warn("old data dir quarantined", "dir", dir, "moved_to", q)
	}
	if err := datadir.Install(built, dir); err != nil {
		return Restored{}, err
	}
	r.Log.Info("restored", "dir", dir, "revision", m.Revision)
	return res, nil
}

// removeLeftovers removes what restores of dir that died left beside it.
func (r Restorer) removeLeftovers(dir string) {
	removed, err := datadir.RemoveLeftoverStaging(dir)
	r.logRemoved(removed)
	if err != nil {
		r.Log.Warn("cannot remove the leftovers of restores that did not finish", "dir", dir, "err", err)
	}
}

func (r Restorer) logRemoved(removed []string) {
	for _, left := range removed {
		r.Log.Warn("removed the leftover of a restore that did not finish", "dir", left)
	}
}

// recordOwner writes the owner marker of a data dir etcd accepted.
func (r Restorer) recordOwner(dir string) {
	if _, err := datadir.RecordOwner(dir, r.Member.Name); err != nil {
		r.Log.Warn("cannot record which cluster and member the data dir belongs to", "dir", dir, "err", err)
	}
}

func isEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}
