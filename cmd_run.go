package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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

	ServerPort   int           `help:"Port of the HTTP API (/healthz, /metrics, /snapshot/...); 0 turns it off." default:"8080"`
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
	if c.ServerPort < 0 || c.ServerPort > 65535 {
		return usagef("--server-port %d is not a port", c.ServerPort)
	}
	store, enc, err := c.storeFlags.open()
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
	var api net.Listener
	if c.ServerPort != 0 {
		api, err = net.Listen("tcp", fmt.Sprintf(":%d", c.ServerPort))
		if err != nil {
			return usagef("--server-port %d: %v", c.ServerPort, err)
		}
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
		StopGrace:   c.StopGrace,
		StopTimeout: c.StopTimeout,
		Log:         log,
		Zap:         zlog,
	})
	return d.Run(ctx)
}
