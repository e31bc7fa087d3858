package supervisor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"etcdbrctl/datadir"
)

// ErrWrongVolume is returned when the data dir belongs to another cluster
// or member than the configured one. Such a dir is never quarantined and
// never restored over: most likely the wrong volume is mounted.
var ErrWrongVolume = errors.New("the data dir belongs to another cluster or member")

// ErrInUse is returned when another process holds the data directory.
var ErrInUse = errors.New("data dir is in use by another process")

// Action is what initialization did, or would do on a dry run.
type Action string

const (
	// ActionKept: the data dir is valid and stays as it is.
	ActionKept Action = "kept"
	// ActionFresh: there is no data dir and no backup; etcd starts empty.
	ActionFresh Action = "fresh"
	// ActionRestored: the data dir was restored from the newest backup
	// (an old one quarantined first).
	ActionRestored Action = "restored"
	// ActionWouldRestore: a dry run found that a restore is needed.
	ActionWouldRestore Action = "would-restore"
	// ActionRefused: the dir is in use, belongs elsewhere, or cannot be
	// repaired; nothing was changed.
	ActionRefused Action = "refused"
)

// InitResult reports an initialization, for people and scripts.
type InitResult struct {
	Dir    string       `json:"dir"`
	Mode   datadir.Mode `json:"mode"`
	DryRun bool         `json:"dryRun"`
	// Report is the check of the data dir before anything changed.
	Report datadir.Report `json:"report"`
	Action Action         `json:"action"`
	// Backup and Revision name the backup restored, or to be restored.
	Backup   string `json:"backup,omitempty"`
	Revision int64  `json:"revision,omitempty"`
	// Quarantined is where the replaced data dir went.
	Quarantined string `json:"quarantined,omitempty"`
	// CheckTook is how long the check of the data dir took.
	CheckTook time.Duration `json:"-"`
}

// Initialize makes dataDir ready for etcd: it checks it in mode, keeps a
// valid one, and restores the newest backup over a missing, damaged or
// stale one (quarantining the old one, never deleting it). A dir that is in
// use (ErrInUse) or belongs to another cluster or member (ErrWrongVolume)
// is refused untouched. With dryRun, nothing is changed: the result says
// what would be done, including whether a restore would fit (ErrNoSpace).
func (r Restorer) Initialize(ctx context.Context, dataDir string, mode datadir.Mode, dryRun bool) (InitResult, error) {
	res := InitResult{Dir: dataDir, Mode: mode, DryRun: dryRun, Action: ActionRefused}
	latest, storeErr := r.newestRestorable(ctx)
	opts := datadir.Options{Mode: mode, Expect: r.Expect}
	switch {
	case storeErr == nil:
		opts.NewestBackupRevision, opts.NewestBackupTime = latest.Revision, planTime(latest)
	case errors.Is(storeErr, ErrNoBackup):
	default:
		// The dir can still be judged; only a restore needs the store.
		r.Log.Warn("cannot read the newest backup; the data dir is not compared with it", "err", storeErr)
	}

	checkStart := time.Now()
	report, err := r.validate(ctx, dataDir, opts)
	res.CheckTook = time.Since(checkStart)
	if err != nil {
		return res, err
	}
	res.Report = report
	switch report.State {
	case datadir.Valid:
		res.Action = ActionKept
		if !dryRun {
			r.recordOwner(dataDir)
			r.removeLeftovers(dataDir)
		}
		return res, nil
	case datadir.InUse:
		return res, fmt.Errorf("%s: %w: %s", dataDir, ErrInUse, report.Reason)
	case datadir.Foreign:
		return res, fmt.Errorf("%s: %w: %s; refusing to quarantine or restore over it", dataDir, ErrWrongVolume, report.Reason)
	}

	if storeErr != nil {
		if !errors.Is(storeErr, ErrNoBackup) {
			return res, fmt.Errorf("data dir %s needs a restore, but the store cannot be read: %w", dataDir, storeErr)
		}
		if report.State == datadir.Empty {
			res.Action = ActionFresh
			return res, nil
		}
		return res, fmt.Errorf("data dir %s is invalid (%s) and the store has no backup to restore it from; "+
			"fix or move it aside by hand: %w", dataDir, report.Reason, ErrNoBackup)
	}

	res.Backup, res.Revision = latest.Full.Name().String(), latest.Revision
	if dryRun {
		if err := checkSpace(dataDir, latest.Full); err != nil {
			return res, err
		}
		res.Action = ActionWouldRestore
		return res, nil
	}
	if r.restoring != nil {
		r.restoring()
	}
	restored, err := r.restoreFrom(ctx, dataDir, latest)
	if err != nil {
		return res, err
	}
	res.Action, res.Quarantined = ActionRestored, restored.Quarantined
	return res, nil
}

// Prepare makes dir ready for etcd as Initialize does, in the mode
// r.ValidationMode picks: by default sanity after a clean stop and full
// after an unclean one.
func (r Restorer) Prepare(ctx context.Context, dir string) error {
	return r.prepare(ctx, dir, nil)
}

// prepare is Prepare that calls restoring, if set, before a restore begins.
func (r Restorer) prepare(ctx context.Context, dir string, restoring func()) error {
	r.restoring = restoring
	mode, err := r.prepareMode(dir)
	if err != nil {
		return err
	}
	res, err := r.Initialize(ctx, dir, mode, false)
	if err != nil {
		return err
	}
	switch res.Action {
	case ActionKept:
		r.Log.Info("data dir is valid", "dir", dir, "check", mode, "revision", res.Report.Revision)
	case ActionFresh:
		r.Log.Info("no data dir and no backup: etcd starts fresh", "dir", dir)
	case ActionRestored:
		if res.Report.State == datadir.Invalid {
			r.Log.Warn("data dir was invalid and is restored", "dir", dir, "check", mode,
				"code", res.Report.Code, "reason", res.Report.Reason)
		}
	}
	return nil
}

func (r Restorer) prepareMode(dir string) (datadir.Mode, error) {
	switch r.ValidationMode {
	case ValidateSanity:
		return datadir.Sanity, nil
	case ValidateFull:
		return datadir.Full, nil
	}
	clean, err := datadir.TakeCleanStop(dir)
	if err != nil {
		return 0, err
	}
	if clean {
		return datadir.Sanity, nil
	}
	return datadir.Full, nil
}
