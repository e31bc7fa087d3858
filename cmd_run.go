package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"etcdbrctl/embedded"
	"etcdbrctl/supervisor"
)

type runCmd struct {
	memberFlags `embed:""`
	serveFlags  `embed:""`
	storeFlags  `embed:""`
	backupFlags `embed:""`
	execFlags   `embed:""`
	apiFlags    `embed:""`

	ReadyTimeout time.Duration `help:"How long etcd may take to become ready." default:"2m"`
	StopGrace    time.Duration `help:"How long a backup in flight may take to finish when stopping." default:"30s"`

	Command []string `arg:"" optional:"" passthrough:"partial" help:"etcd's command line, after --: etcd then runs as a supervised child process with its flags unchanged (exec mode). Without it, etcd runs embedded."`
}

func (c *runCmd) Run(ctx context.Context, log *slog.Logger, format logFormat, _ io.Writer) error {
	if len(c.Command) > 0 && c.Command[0] == "--" {
		c.Command = c.Command[1:]
	}
	if len(c.Command) > 0 {
		return c.runExec(ctx, log, format)
	}
	// Every check comes before anything is created on disk or in the store.
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return err
	}
	sched, err := c.backupFlags.scheduler(store, enc)
	if err != nil {
		return err
	}
	opts := c.memberFlags.options()
	c.serveFlags.apply(&opts)
	cfg, err := embedded.Config(opts)
	if err != nil {
		return usageError{err}
	}
	if err := checkPortsFree("listen-client-urls", cfg.ListenClientUrls); err != nil {
		return err
	}
	if err := checkPortsFree("listen-peer-urls", cfg.ListenPeerUrls); err != nil {
		return err
	}
	api, apiOptions, err := c.apiFlags.listen()
	if err != nil {
		return err
	}
	if api != nil {
		defer api.Close()
	}
	if err := checkStore(ctx, store); err != nil {
		return err
	}

	zlog := embedded.ZapLogger(log)
	d := supervisor.New(supervisor.Config{
		DataDir: cfg.Dir,
		Restorer: supervisor.Restorer{
			Store: store, Encryption: enc, Member: member(cfg), Log: log, Zap: zlog,
			Validate: validateInChild, Expect: c.memberFlags.expectation(cfg),
		},
		StartEtcd: func(ctx context.Context) (supervisor.Etcd, error) {
			return embedded.Start(ctx, cfg, log, c.ReadyTimeout)
		},
		Backup:      sched,
		API:         api,
		APIOptions:  apiOptions,
		StopGrace:   c.StopGrace,
		StopTimeout: c.StopTimeout,
		Log:         log,
		Zap:         zlog,
	})
	return d.Run(ctx)
}
