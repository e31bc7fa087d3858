package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/embedded"
	"etcdbrctl/supervisor"
)

type restoreCmd struct {
	memberFlags `embed:""`
	storeFlags  `embed:""`

	Force         bool   `help:"Restore even if the data dir is not empty: the old one is quarantined (renamed aside), never deleted."`
	ToRevision    int64  `help:"Restore exactly the state at this revision (default: the newest state the backups hold)." placeholder:"N"`
	ToTime        string `help:"Restore the newest state the backups prove was reached at or before this time (RFC3339, e.g. 2026-11-26T07:00:00Z)." placeholder:"TIME"`
	MaxFetchers   int    `help:"Delta segments fetched and decoded at once, ahead of the one being applied." default:"4"`
	BumpRevision  uint64 `help:"Raise the restored revision by this much (with --mark-compacted), so clients that saw later revisions resynchronise." placeholder:"N"`
	MarkCompacted bool   `help:"Mark the restored (bumped) revision compacted, so watches from older revisions fail instead of missing changes. Goes with --bump-revision."`
}

func (c *restoreCmd) Run(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
	target, opts, err := c.options()
	if err != nil {
		return err
	}
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return err
	}
	cfg, err := embedded.Config(c.memberFlags.options())
	if err != nil {
		return usageError{err}
	}
	dir := cfg.Dir
	used, err := isUsedDir(dir)
	if err != nil {
		return usagef("--data-dir: %v", err)
	}
	if used && !c.Force {
		return usagef("--data-dir %s is not empty; pass --force to quarantine it and restore", dir)
	}
	plan, err := supervisor.PlanRestore(ctx, store, target)
	if err != nil {
		return err
	}
	log.Info("restoring", "target", target.String(), "full", plan.Full.Name().String(), "deltas", len(plan.Deltas),
		"revision", plan.Revision, "stored_bytes", plan.StoredBytes(), "dir", dir)

	opts.Encryption, opts.Member, opts.Log = enc, member(cfg), embedded.ZapLogger(log)
	if isTerminal(os.Stderr) {
		opts.Progress, opts.ProgressEvery = backup.TerminalProgress(os.Stderr), 250*time.Millisecond
	} else {
		opts.Progress = backup.LogProgress(log, 10*time.Second)
	}
	staging, err := datadir.Stage(dir)
	if err != nil {
		return err
	}
	defer staging.Close()
	for _, left := range staging.Removed {
		log.Warn("removed the leftover of a restore that did not finish", "dir", left)
	}
	built := filepath.Join(staging.Path, "data")
	res, err := backup.Restore(ctx, store, plan, opts, built)
	if err != nil {
		return err
	}
	if err := checkRestored(ctx, built, plan.Revision+int64(opts.BumpRevision)); err != nil {
		return err
	}
	quarantined, err := replaceDir(built, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s at revision %d from %s and %d delta segments (%d events) in %s\n",
		dir, res.Revision, plan.Full.Name(), len(plan.Deltas), res.Events, res.Took.Round(time.Millisecond))
	if opts.BumpRevision > 0 {
		fmt.Fprintf(stdout, "revision bumped by %d to %d and marked compacted\n", opts.BumpRevision, res.Revision+int64(opts.BumpRevision))
	}
	if quarantined != "" {
		fmt.Fprintf(stdout, "the previous data dir was moved to %s\n", quarantined)
	}
	return nil
}

func (c *restoreCmd) options() (backup.Target, backup.RestoreOptions, error) {
	var t backup.Target
	if c.ToRevision < 0 {
		return t, backup.RestoreOptions{}, usagef("--to-revision %d: give a positive revision", c.ToRevision)
	}
	t.Revision = c.ToRevision
	if c.ToTime != "" {
		if c.ToRevision > 0 {
			return t, backup.RestoreOptions{}, usagef("--to-revision and --to-time: give one of them")
		}
		at, err := time.Parse(time.RFC3339Nano, c.ToTime)
		if err != nil {
			return t, backup.RestoreOptions{}, usagef("--to-time %q: want an RFC3339 time such as 2026-11-26T07:00:00Z", c.ToTime)
		}
		t.Time = at
	}
	if c.MaxFetchers < 1 {
		return t, backup.RestoreOptions{}, usagef("--max-fetchers %d: give at least 1", c.MaxFetchers)
	}
	if (c.BumpRevision > 0) != c.MarkCompacted {
		return t, backup.RestoreOptions{}, usagef("--bump-revision and --mark-compacted go together: give both or neither")
	}
	return t, backup.RestoreOptions{MaxFetchers: c.MaxFetchers, BumpRevision: c.BumpRevision, MarkCompacted: c.MarkCompacted}, nil
}

// checkRestored reads the restored directory as etcd would start on it.
func checkRestored(ctx context.Context, dir string, want int64) error {
	report, err := datadir.Validate(ctx, dir, datadir.Sanity)
	if err != nil {
		return err
	}
	if report.State != datadir.Valid || report.Revision != want {
		return fmt.Errorf("restored data dir does not check out (state %s, revision %d, want %d): %s",
			report.State, report.Revision, want, report.Reason)
	}
	return nil
}

// replaceDir moves built to dir, quarantining what dir held.
func replaceDir(built, dir string) (quarantined string, err error) {
	used, err := isUsedDir(dir)
	switch {
	case err != nil:
		return "", err
	case used:
		if quarantined, err = datadir.Quarantine(dir, time.Now().UTC()); err != nil {
			return "", fmt.Errorf("quarantine %s: %w", dir, err)
		}
	default:
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return quarantined, datadir.Install(built, dir)
}

// isUsedDir reports whether dir exists with something in it.
func isUsedDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return len(entries) > 0, err
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
