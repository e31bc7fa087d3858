package supervisor

import (
	"context"
	"errors"
	"fmt"

	"etcdbrctl/datadir"
)

// ErrInUse is returned when another process holds the data directory.
var ErrInUse = errors.New("data dir is in use by another process")

// Prepare makes dir ready for etcd: a valid dir is kept, a missing or empty
// one is restored when backups exist (else etcd starts fresh), and an invalid
// one is replaced from the newest backup. After an unclean stop the check is
// the full one.
func (r Restorer) Prepare(ctx context.Context, dir string) error {
	return r.prepare(ctx, dir, nil)
}

// prepare is Prepare that calls restoring, if set, before a restore begins.
func (r Restorer) prepare(ctx context.Context, dir string, restoring func()) error {
	if restoring == nil {
		restoring = func() {}
	}
	clean, err := datadir.TakeCleanStop(dir)
	if err != nil {
		return err
	}
	mode := datadir.Full
	if clean {
		mode = datadir.Sanity
	}
	report, err := r.validate(ctx, dir, mode)
	if err != nil {
		return err
	}
	switch report.State {
	case datadir.Valid:
		r.Log.Info("data dir is valid", "dir", dir, "check", mode, "revision", report.Revision)
		return nil
	case datadir.InUse:
		return fmt.Errorf("%s: %w: %s", dir, ErrInUse, report.Reason)
	case datadir.Empty:
		restoring()
		_, err := r.RestoreLatest(ctx, dir)
		if errors.Is(err, ErrNoBackup) {
			r.Log.Info("no data dir and no backup: etcd starts fresh", "dir", dir)
			return nil
		}
		return err
	default:
		r.Log.Warn("data dir is invalid", "dir", dir, "check", mode, "reason", report.Reason)
		restoring()
		_, err := r.RestoreLatest(ctx, dir)
		if errors.Is(err, ErrNoBackup) {
			return fmt.Errorf("data dir %s is invalid (%s) and the store has no backup to restore it from; "+
				"fix or move it aside by hand", dir, report.Reason)
		}
		return err
	}
}
