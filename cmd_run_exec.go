package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/embedded"
	"etcdbrctl/etcdargs"
	"etcdbrctl/supervisor"
)

// execFlags set how `run -- etcd ARGS` supervises etcd as a child process.
type execFlags struct {
	Restart       string        `help:"When etcd runs again after it exits (with -- etcd ...): on-failure, always or never." enum:"on-failure,always,never" default:"on-failure"`
	MaxRestarts   int           `help:"Restarts allowed within --restart-window before etcdbrctl gives up with etcd's exit code." default:"5"`
	RestartWindow time.Duration `help:"The window --max-restarts counts restarts in." default:"10m"`
	StopTimeout   time.Duration `help:"How long etcd may take to stop before its process group is killed." default:"30s"`
	Subreaper     bool          `help:"Reap orphaned descendants as PID 1 does (PR_SET_CHILD_SUBREAPER); automatic as PID 1."`
	EtcdEndpoints string        `help:"Where etcdbrctl reaches etcd (with -- etcd ...; default: etcd's first --listen-client-urls, with 0.0.0.0 as 127.0.0.1)."`

	RestartBackoff time.Duration `hidden:"" help:"First delay before a restart; it doubles up to 30s." default:"1s"`
}

// logFormat is the --log-format chosen for etcdbrctl's own log.
type logFormat string

// checkNoMemberFlags refuses the embedded etcd's flags in exec mode, where
// etcd's own arguments configure it. --data-dir stays: it names the data
// dir etcdbrctl checks when etcd's arguments cannot tell.
func (c *runCmd) checkNoMemberFlags() error {
	for flag, value := range map[string]string{
		"name":                        c.Name,
		"initial-advertise-peer-urls": c.InitialAdvertisePeerURLs,
		"initial-cluster":             c.InitialCluster,
		"initial-cluster-token":       c.InitialClusterToken,
		"listen-client-urls":          c.ListenClientURLs,
		"advertise-client-urls":       c.AdvertiseClientURLs,
		"listen-peer-urls":            c.ListenPeerURLs,
		"etcd-config-file":            c.EtcdConfigFile,
	} {
		if value != "" {
			return usagef("--%s configures the embedded etcd; with -- %s ..., give etcd its own flags after --", flag, c.Command[0])
		}
	}
	return nil
}

func (c *runCmd) runExec(ctx context.Context, log *slog.Logger, format logFormat) error {
	if err := c.checkNoMemberFlags(); err != nil {
		return err
	}
	if c.ServerPort < 0 || c.ServerPort > 65535 {
		return usagef("--server-port %d is not a port", c.ServerPort)
	}
	mode, err := supervisor.ParseRestartMode(c.Restart)
	if err != nil {
		return usagef("--restart: %v", err)
	}
	if c.MaxRestarts < 0 || c.RestartWindow <= 0 || c.StopTimeout <= 0 || c.RestartBackoff <= 0 {
		return usagef("--max-restarts must not be negative; --restart-window, --stop-timeout and the backoff must be positive")
	}
	etcdCfg, err := readEtcdArgs(c.Command, log)
	if err != nil {
		return err
	}
	dataDir := etcdCfg.DataDir
	if c.DataDir != "" {
		dataDir = c.DataDir
	}
	clientURL, clientTLS, err := c.etcdEndpoint(etcdCfg)
	if err != nil {
		return err
	}
	store, enc, err := c.storeFlags.open(ctx)
	if err != nil {
		return err
	}
	sched, err := c.backupFlags.scheduler(store, enc)
	if err != nil {
		return err
	}
	notifier, err := supervisor.NewSystemdNotifier(os.Getenv, os.Getpid())
	if err != nil {
		return usageError{err}
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

	orphans := os.Getpid() == 1 || c.Subreaper
	if c.Subreaper {
		if err := supervisor.BecomeSubreaper(); err != nil {
			return err
		}
	}
	reaper := supervisor.NewReaper(orphans, log)
	// The reaper outlives the daemon: the stop waits for etcd's status.
	reaperCtx, stopReaper := context.WithCancel(context.WithoutCancel(ctx))
	reaperDone := make(chan struct{})
	go func() { defer close(reaperDone); reaper.Run(reaperCtx) }()
	defer func() { stopReaper(); <-reaperDone }()

	zlog := embedded.ZapLogger(log)
	child := supervisor.ChildConfig{
		Argv: c.Command, Env: os.Environ(), Reaper: reaper,
		ClientURL: clientURL, TLS: clientTLS, ReadyTimeout: c.ReadyTimeout,
		Log: log,
	}
	if format == "json" {
		child.Lines = log.With("source", "etcd")
	}
	cfg := supervisor.Config{
		DataDir: dataDir,
		Restorer: supervisor.Restorer{
			Store: store, Encryption: enc, Member: etcdMember(etcdCfg), Log: log,
			// The member name guards against a wrong volume; etcd's flags do
			// not tell whether --initial-cluster was given or defaulted.
			Expect: datadir.Expectation{Name: etcdCfg.Name},
			// The full check runs in a child this process waits for itself.
			Validate: func(ctx context.Context, dir string, opts datadir.Options) (datadir.Report, error) {
				release := reaper.Hold()
				defer release()
				return validateInChild(ctx, dir, opts)
			},
		},
		StartEtcd: func(ctx context.Context) (supervisor.Etcd, error) {
			return supervisor.StartChild(ctx, child)
		},
		Backup:      sched,
		API:         api,
		StopGrace:   c.StopGrace,
		StopTimeout: c.StopTimeout,
		Restart: &supervisor.RestartPolicy{
			Mode: mode, MaxRestarts: c.MaxRestarts, Window: c.RestartWindow, FirstBackoff: c.RestartBackoff,
		},
		Log: log,
		Zap: zlog,
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if notifier != nil {
		cfg.Notify = notifier
		go notifier.RunWatchdog(runCtx)
	}
	d := supervisor.New(cfg)
	forwardSignals(runCtx, d, log)
	log.Info("supervising etcd", "command", c.Command, "data_dir", dataDir, "client_url", clientURL,
		"restart", mode, "reap_orphans", orphans)
	return d.Run(ctx)
}

// readEtcdArgs learns etcd's settings from its command line and ETCD_*
// variables. A command that is not etcd itself (a wrapper script) passes
// its arguments to nobody knows where: then only the variables count, and
// --data-dir and --etcd-endpoints say the rest.
func readEtcdArgs(command []string, log *slog.Logger) (etcdargs.Config, error) {
	args := command[1:]
	if filepath.Base(command[0]) != "etcd" {
		log.Info("the command is not etcd itself: etcd's settings come from ETCD_* variables, --data-dir and --etcd-endpoints",
			"command", command[0])
		args = nil
	}
	cfg, err := etcdargs.Parse(args, os.Environ())
	if err != nil {
		return cfg, usagef("%s's arguments: %v", command[0], err)
	}
	return cfg, nil
}

// forwardSignals passes SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 on to etcd
// until ctx is done. SIGTERM and SIGINT stop the daemon instead (main),
// which then stops etcd in order.
func forwardSignals(ctx context.Context, d *supervisor.Daemon, log *slog.Logger) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		defer signal.Stop(sigs)
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-sigs:
				if err := d.Signal(sig); err != nil {
					log.Warn("cannot forward a signal to etcd", "signal", sig.String(), "err", err)
				}
			}
		}
	}()
}

// etcdEndpoint is where backups reach etcd, and the TLS to use there.
func (c *runCmd) etcdEndpoint(cfg etcdargs.Config) (string, *tls.Config, error) {
	raw := c.EtcdEndpoints
	if raw == "" {
		if len(cfg.ListenClientURLs) == 0 {
			return "", nil, usagef("etcd has no client URL; give --etcd-endpoints")
		}
		raw = cfg.ListenClientURLs[0]
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" && u.Scheme != "unix" && u.Scheme != "unixs" {
		return "", nil, usagef("--etcd-endpoints %q is not a URL like http://127.0.0.1:2379", raw)
	}
	if host := u.Hostname(); host == "0.0.0.0" || host == "::" || host == "" && u.Scheme != "unix" && u.Scheme != "unixs" {
		loopback := "127.0.0.1"
		if host == "::" {
			loopback = "::1"
		}
		u.Host = net.JoinHostPort(loopback, u.Port())
	}
	if u.Scheme != "https" && u.Scheme != "unixs" {
		return u.String(), nil, nil
	}
	info := transport.TLSInfo{CertFile: cfg.ClientTLS.CertFile, KeyFile: cfg.ClientTLS.KeyFile, TrustedCAFile: cfg.ClientTLS.TrustedCAFile}
	tc, err := info.ClientConfig()
	if err != nil {
		return "", nil, usagef("etcd's client TLS files: %v", err)
	}
	if cfg.ClientTLS.AutoTLS && cfg.ClientTLS.TrustedCAFile == "" {
		// etcd made itself a certificate no CA vouches for; the connection
		// stays on this host.
		tc.InsecureSkipVerify = true
	}
	return u.String(), tc, nil
}

func etcdMember(cfg etcdargs.Config) backup.Member {
	return backup.Member{
		Name: cfg.Name, InitialCluster: cfg.InitialCluster, InitialClusterToken: cfg.InitialClusterToken,
		PeerURLs: cfg.InitialAdvertisePeerURLs,
	}
}
