package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"etcdbrctl/backup"
	"etcdbrctl/embedded"
	"etcdbrctl/supervisor"
)

// serverCmd is snapshot plus the HTTP API, beside an etcd it does not start:
// the data dir is initialized through the API before etcd starts.
type serverCmd struct {
	snapshotCmd `embed:""`
	memberFlags `embed:""`
	apiFlags    `embed:""`
}

func (c *serverCmd) Run(ctx context.Context, log *slog.Logger, _ io.Writer) error {
	// The port is bound first, so that a port in use fails before anything else.
	api, apiOptions, err := c.apiFlags.listen()
	if err != nil {
		return err
	}
	if api == nil {
		return usagef("--server-port 0: server is snapshot plus the HTTP API; use the snapshot command for no API")
	}
	defer api.Close()
	cfg, err := embedded.Config(c.memberFlags.options())
	if err != nil {
		return usageError{err}
	}
	sidecar, err := c.snapshotCmd.sidecar(ctx, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := backup.NewMetrics(reg)
	sidecar.Backup.Metrics = metrics
	sidecar.Gatherer = reg
	sidecar.API = api
	sidecar.APIOptions = apiOptions
	sidecar.Initializer = supervisor.DataDirInitializer{
		Restorer: supervisor.Restorer{
			Store: sidecar.Backup.Store, Encryption: sidecar.Backup.Encryption, Member: member(cfg),
			Log: log, Zap: embedded.ZapLogger(log), Validate: validateInChild,
		},
		DataDir: cfg.Dir,
		Metrics: metrics,
	}
	return supervisor.RunSidecar(ctx, sidecar)
}
