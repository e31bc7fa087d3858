package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"etcdbrctl/embedded"
	"etcdbrctl/supervisor"
)

type restoreCmd struct {
	memberFlags `embed:""`
	storeFlags  `embed:""`

	Force bool `help:"Restore even if the data dir is not empty: the old one is quarantined (renamed aside), never deleted."`
}

func (c *restoreCmd) Run(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return err
	}
	cfg, err := embedded.Config(c.memberFlags.options())
	if err != nil {
		return usageError{err}
	}
	if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 && !c.Force {
		return usagef("--data-dir %s is not empty; pass --force to quarantine it and restore", cfg.Dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return usagef("--data-dir: %v", err)
	}
	r := supervisor.Restorer{Store: store, Encryption: enc, Member: member(cfg), Log: log, Zap: embedded.ZapLogger(log)}
	res, err := r.RestoreLatest(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s at revision %d from %s\n", cfg.Dir, res.Manifest.Revision, res.Manifest.Name())
	if res.Quarantined != "" {
		fmt.Fprintf(stdout, "the previous data dir was moved to %s\n", res.Quarantined)
	}
	return nil
}
