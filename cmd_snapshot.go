package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"etcdbrctl/supervisor"
)

// snapshotCmd backs up an etcd that runs elsewhere.
type snapshotCmd struct {
	clientFlags `embed:""`
	storeFlags  `embed:""`
	backupFlags `embed:""`

	StopGrace time.Duration `help:"How long a backup in flight may take to finish when stopping." default:"30s"`
}

func (c *snapshotCmd) Run(ctx context.Context, log *slog.Logger, _ io.Writer) error {
	sidecar, err := c.sidecar(ctx, log)
	if err != nil {
		return err
	}
	return supervisor.RunSidecar(ctx, sidecar)
}

// sidecar checks the flags shared with server, before anything starts.
func (c *snapshotCmd) sidecar(ctx context.Context, log *slog.Logger) (supervisor.SidecarConfig, error) {
	etcd, err := c.clientFlags.clientConfig()
	if err != nil {
		return supervisor.SidecarConfig{}, err
	}
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return supervisor.SidecarConfig{}, err
	}
	sched, err := c.backupFlags.scheduler(store, enc)
	if err != nil {
		return supervisor.SidecarConfig{}, err
	}
	if c.StopGrace < 0 {
		return supervisor.SidecarConfig{}, usagef("--stop-grace must not be negative")
	}
	if err := checkStore(ctx, store); err != nil {
		return supervisor.SidecarConfig{}, err
	}
	return supervisor.SidecarConfig{
		Connect:   connector(etcd),
		Endpoints: etcd.Endpoints,
		Backup:    sched,
		StopGrace: c.StopGrace,
		Log:       log,
	}, nil
}
