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
	Log        *slog.Logger
	Zap        *zap.Logger // for etcd's restore code; nil discards its log
	// Validate checks a data dir; nil means datadir.Validate in this process.
	Validate func(ctx context.Context, dir string, mode datadir.Mode) (datadir.Report, error)
}

func (r Restorer) validate(ctx context.Context, dir string, mode datadir.Mode) (datadir.Report, error) {
	if r.Validate != nil {
		return r.Validate(ctx, dir, mode)
	}
	return datadir.Validate(ctx, dir, mode)
}

// Restored says what a restore did.
type Restored struct {
	Manifest    backup.Manifest
	Quarantined string // where the replaced data directory went, if there was one
}

// RestoreLatest restores the newest full snapshot at dir. The restore is built
// and checked in a staging directory beside dir; only then is an existing dir
// moved aside (quarantined, never deleted) and the new one renamed into place.
func (r Restorer) RestoreLatest(ctx context.Context, dir string) (Restored, error) {
	c, err := backup.ReadCatalog(ctx, r.Store)
	if err != nil {
		return Restored{}, err
	}
	latest, ok := c.LatestFull()
	if !ok {
		return Restored{}, fmt.Errorf("%v: %w", r.Store, ErrNoBackup)
	}
	m, err := backup.ReadManifest(ctx, r.Store, latest.Key)
	if err != nil {
		return Restored{}, err
	}
	r.Log.Info("restoring", "backup", latest.Key, "revision", m.Revision, "stored_bytes", m.Size, "dir", dir)

	staging, err := datadir.StagingDir(dir)
	if err != nil {
		return Restored{}, err
	}
	// The staging directory holds only what this restore wrote.
	defer os.RemoveAll(staging)
	built := filepath.Join(staging, "data")
	if m.Revision, err = backup.RestoreNewest(ctx, r.Store, backup.RestoreOptions{Encryption: r.Encryption, Member: r.Member, Log: r.Zap, Progress: backup.LogProgress(r.Log, 10*time.Second)}, built); err != nil {
		return Restored{}, err
	}
	report, err := datadir.Validate(ctx, built, datadir.Sanity)
	if err != nil {
		return Restored{}, err
	}
	if report.State != datadir.Valid || report.Revision != m.Revision {
		return Restored{}, fmt.Errorf("restored data dir does not check out (state %s, revision %d, want %d): %s",
			report.State, report.Revision, m.Revision, report.Reason)
	}

	var res Restored
	res.Manifest = m
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

func isEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}
