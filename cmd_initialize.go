package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"go.etcd.io/etcd/server/v3/embed"

	"etcdbrctl/datadir"
	"etcdbrctl/embedded"
	"etcdbrctl/supervisor"
)

// Exit codes beyond 0 (success), 1 (failed) and 2 (bad flags).
const (
	exitWrongVolume  = 3
	exitWouldRestore = 4
)

type initializeCmd struct {
	memberFlags `embed:""`
	storeFlags  `embed:""`

	ValidationMode string `help:"How deeply to check the data dir: sanity (layout, db opens, revision not behind the newest backup) or full (also every db page, the WAL, snap files and member IDs)." enum:"sanity,full" default:"full"`
	DryRun         bool   `help:"Check and report what would be done; change nothing."`
	JSON           bool   `name:"json" help:"Print the result as JSON on stdout, for scripts."`
}

func (c *initializeCmd) Help() string {
	return `Checks the data dir and makes it ready for etcd: a valid dir is kept, a missing, damaged or stale one is
restored from the newest backup (a damaged one is renamed aside first, never deleted). A dir that belongs to
another cluster or member (a wrong volume) is refused untouched.

Exit codes: 0 the dir is valid or was repaired (or there is nothing to restore and etcd starts fresh);
1 it could not be made ready; 2 bad flags; 3 the dir belongs to another cluster or member;
4 --dry-run found that a restore is needed.`
}

func (c *initializeCmd) Run(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
	mode, err := datadir.ParseMode(c.ValidationMode)
	if err != nil {
		return usageError{err}
	}
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return err
	}
	cfg, err := embedded.Config(c.memberFlags.options())
	if err != nil {
		return usageError{err}
	}
	expect := c.memberFlags.expectation(cfg)
	if _, _, _, err := expect.ExpectedIDs(); err != nil {
		return usagef("--initial-cluster: %v", err)
	}
	r := supervisor.Restorer{
		Store: store, Encryption: enc, Member: member(cfg), Expect: expect,
		Log: log, Zap: embedded.ZapLogger(log), Validate: validateInChild,
	}
	res, err := r.Initialize(ctx, cfg.Dir, mode, c.DryRun)
	if perr := c.print(stdout, res, err); perr != nil {
		return errors.Join(err, perr)
	}
	switch {
	case err != nil:
		return err
	case res.Action == supervisor.ActionWouldRestore:
		return exitError{fmt.Errorf("dry run: %s needs a restore from %s", cfg.Dir, res.Backup), exitWouldRestore}
	}
	return nil
}

// initOutput is the JSON initialize prints.
type initOutput struct {
	supervisor.InitResult
	Error string `json:"error,omitempty"`
}

func (c *initializeCmd) print(w io.Writer, res supervisor.InitResult, runErr error) error {
	if c.JSON {
		out := initOutput{InitResult: res}
		if runErr != nil {
			out.Error = runErr.Error()
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if runErr != nil {
		return nil // main prints the error
	}
	rep := res.Report
	var err error
	switch res.Action {
	case supervisor.ActionKept:
		_, err = fmt.Fprintf(w, "%s is valid (%s check) at revision %d\n", res.Dir, res.Mode, rep.Revision)
	case supervisor.ActionFresh:
		_, err = fmt.Fprintf(w, "%s does not exist and the store has no backup: etcd starts fresh\n", res.Dir)
	case supervisor.ActionWouldRestore, supervisor.ActionRestored:
		what := "is empty"
		if rep.State == datadir.Invalid {
			what = fmt.Sprintf("is invalid (%s): %s", rep.Code, rep.Reason)
		}
		verb := "restored"
		if res.Action == supervisor.ActionWouldRestore {
			verb = "would be restored (dry run)"
		}
		_, err = fmt.Fprintf(w, "%s %s\n%s %s from %s at revision %d\n", res.Dir, what, res.Dir, verb, res.Backup, res.Revision)
		if err == nil && res.Quarantined != "" {
			_, err = fmt.Fprintf(w, "the previous data dir was moved to %s\n", res.Quarantined)
		}
	}
	return err
}

// exitError ends the process with a specific exit code.
type exitError struct {
	error
	code int
}

func (e exitError) Unwrap() error { return e.error }

// expectation is what a data dir must match: this member's name always,
// and the IDs --initial-cluster gives only when it was set explicitly (a
// member that joined an existing cluster has IDs it does not give).
func (m memberFlags) expectation(cfg *embed.Config) datadir.Expectation {
	e := datadir.Expectation{Name: cfg.Name}
	if m.InitialCluster != "" {
		e.InitialCluster, e.InitialClusterToken = cfg.InitialCluster, cfg.InitialClusterToken
	}
	return e
}
