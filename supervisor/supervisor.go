// Package supervisor is the long-running daemon: it prepares the data dir,
// starts etcd, runs the backup schedule once etcd is ready, and serves the
// HTTP API, then stops all of it cleanly.
package supervisor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
)

// Etcd is a running etcd member, embedded or a child process.
type Etcd interface {
	// ClientURL is a URL a client can dial.
	ClientURL() string
	// Err delivers a fatal error, or is closed once etcd has stopped.
	Err() <-chan error
	// Stop shuts etcd down gracefully, bounded by ctx.
	Stop(ctx context.Context) error
}

// Config is everything the daemon needs, already validated.
type Config struct {
	DataDir   string
	Restorer  Restorer
	StartEtcd func(ctx context.Context) (Etcd, error)
	Backup    *backup.Scheduler // Etcd, Metrics and Log are filled in by New and Run
	// API is the bound listener of the HTTP API; nil turns it off.
	API net.Listener
	// APIOptions are the API's access rules (token, methods, profiling).
	APIOptions APIOptions
	// StopGrace bounds how long a snapshot in flight may take to finish on stop.
	StopGrace time.Duration
	// StopTimeout bounds how long etcd may take to stop; 0 means 30s.
	StopTimeout time.Duration
	// Restart, when set, runs etcd again after it ends on its own (an
	// *ExitError from Err or StartEtcd); nil stops the daemon instead.
	Restart *RestartPolicy
	// Notify hears of the daemon's state (sd_notify states); nil: nobody.
	Notify Notifier
	Log    *slog.Logger
	// Zap carries the etcd client's own log; nil discards it.
	Zap *zap.Logger
}

// Phase is where the daemon is in its life, reported by /healthz.
type Phase string

const (
	PhaseValidating Phase = "validating"
	PhaseRestoring  Phase = "restoring"
	PhaseStarting   Phase = "starting"
	PhaseRunning    Phase = "running"
	PhaseRestarting Phase = "restarting"
	PhaseStopping   Phase = "stopping"
)

// Daemon runs one etcd member with its backups.
type Daemon struct {
	cfg      Config
	registry *prometheus.Registry
	phase    atomic.Value // Phase
	client   atomic.Pointer[clientv3.Client]
	sched    *backup.Scheduler

	mu   sync.Mutex
	etcd Etcd // the running etcd, for Signal
}

// New prepares a daemon; Run starts it.
func New(cfg Config) *Daemon {
	d := &Daemon{cfg: cfg, registry: prometheus.NewRegistry()}
	d.phase.Store(PhaseValidating)
	d.sched = cfg.Backup
	d.sched.Metrics = backup.NewMetrics(d.registry)
	d.sched.Log = cfg.Log
	return d
}

// Run blocks until ctx is done (a clean stop, nil error) or etcd fails for
// good. When etcd ended on its own, the error wraps an *ExitError.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.cfg.Log
	apiDone := make(chan struct{})
	if d.cfg.API != nil {
		srv := d.httpServer()
		go func() {
			defer close(apiDone)
			if err := srv.Serve(d.cfg.API); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP API stopped", "err", err)
			}
		}()
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			srv.Shutdown(shutdownCtx)
			<-apiDone
		}()
		log.Info("HTTP API listening", "addr", d.cfg.API.Addr().String())
	}

	var restarts *restarts
	if d.cfg.Restart != nil {
		restarts = newRestarts(*d.cfg.Restart)
	}
	for {
		healthy, err := d.runOnce(ctx)
		var exit *ExitError
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if restarts == nil || !errors.As(err, &exit) {
			return err
		}
		delay, again, why := restarts.next(exit.Status, healthy, time.Now())
		if !again {
			if exit.Status.Success() {
				log.Info("etcd exited with code 0; not restarting it", "because", why)
				return nil
			}
			log.Error("etcd is not restarted", "status", exit.Status.String(), "because", why)
			return fmt.Errorf("%w; not restarting it: %s", err, why)
		}
		d.setPhase(PhaseRestarting, fmt.Sprintf("etcd %s; restarting in %s", exit.Status, delay))
		log.Warn("etcd ended; restarting it", "status", exit.Status.String(), "after", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// runOnce prepares the data dir, starts etcd and serves until ctx is done
// (nil) or etcd fails; healthy is how long etcd was ready.
func (d *Daemon) runOnce(ctx context.Context) (healthy time.Duration, err error) {
	d.setPhase(PhaseValidating, "checking the data dir "+d.cfg.DataDir)
	restoring := func() { d.setPhase(PhaseRestoring, "restoring the data dir "+d.cfg.DataDir) }
	if err := d.cfg.Restorer.prepare(ctx, d.cfg.DataDir, restoring); err != nil {
		if ctx.Err() != nil {
			d.cfg.Log.Info("stopped while preparing the data dir; it is left as it was")
			return 0, nil
		}
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, nil
	}
	d.setPhase(PhaseStarting, "starting etcd")
	etcd, err := d.cfg.StartEtcd(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		if errors.As(err, new(*ExitError)) {
			return 0, err
		}
		return 0, fmt.Errorf("start etcd: %w", err)
	}
	return d.serve(ctx, etcd)
}

// serve runs the backups and the API's etcd client while etcd runs, and
// stops etcd when ctx is done or it failed.
func (d *Daemon) serve(ctx context.Context, etcd Etcd) (healthy time.Duration, err error) {
	log := d.cfg.Log
	d.setEtcd(etcd)
	ready := time.Now()
	defer func() {
		healthy = time.Since(ready)
		d.setEtcd(nil)
		d.setPhase(PhaseStopping, "stopping etcd")
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.stopTimeout())
		defer cancel()
		if serr := etcd.Stop(stopCtx); serr != nil {
			log.Error("etcd did not stop cleanly", "err", serr)
			err = errors.Join(err, serr)
			return
		}
		if err == nil {
			if merr := datadir.MarkCleanStop(d.cfg.DataDir); merr != nil {
				log.Warn("cannot mark the clean stop", "err", merr)
			}
		}
	}()

	cc := clientv3.Config{
		Endpoints:   []string{etcd.ClientURL()},
		DialTimeout: 5 * time.Second,
		// The client's info lines (one per snapshot stream) are noise here.
		Logger: clientLogger(d.cfg.Zap),
	}
	if t, ok := etcd.(interface{ ClientTLS() *tls.Config }); ok {
		cc.TLS = t.ClientTLS()
	}
	client, err := clientv3.New(cc)
	if err != nil {
		return 0, fmt.Errorf("connect to etcd: %w", err)
	}
	defer client.Close()
	defer d.client.Store(nil)
	d.sched.Etcd = client
	d.client.Store(client) // publishes sched.Etcd to the HTTP handlers too
	d.cfg.Restorer.recordOwner(d.cfg.DataDir)
	d.setPhase(PhaseRunning, "etcd is running")
	d.notify("READY=1")
	log.Info("etcd is ready", "client_url", etcd.ClientURL(), "data_dir", d.cfg.DataDir)

	// On stop the schedule ends at once, but a snapshot in flight may finish
	// within StopGrace before etcd goes away. When etcd failed, there is
	// nothing to wait for.
	loopCtx, stopLoop := context.WithCancel(ctx)
	workCtx, abortWork := context.WithCancel(context.WithoutCancel(ctx))
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.sched.Run(loopCtx, workCtx)
	}()
	defer func() {
		stopLoop()
		if err != nil {
			abortWork()
		}
		select {
		case <-loopDone:
		case <-time.After(d.cfg.StopGrace):
			log.Warn("backup in flight did not finish within the stop grace period; abandoning it")
			abortWork()
			<-loopDone
		}
		abortWork()
	}()

	select {
	case <-ctx.Done():
		d.setPhase(PhaseStopping, "stopping")
		d.notify("STOPPING=1")
		log.Info("stopping")
		return 0, nil
	case err, ok := <-etcd.Err():
		var exit *ExitError
		switch {
		case !ok || err == nil:
			return 0, errors.New("etcd stopped unexpectedly")
		case errors.As(err, &exit):
			return 0, err
		}
		return 0, fmt.Errorf("etcd failed: %w", err)
	}
}

func (d *Daemon) stopTimeout() time.Duration {
	if d.cfg.StopTimeout > 0 {
		return d.cfg.StopTimeout
	}
	return 30 * time.Second
}

// Signal forwards sig to etcd when it runs as a process; it does nothing
// while no etcd runs.
func (d *Daemon) Signal(sig os.Signal) error {
	d.mu.Lock()
	etcd := d.etcd
	d.mu.Unlock()
	if s, ok := etcd.(interface{ Signal(os.Signal) error }); ok {
		return s.Signal(sig)
	}
	return nil
}

func (d *Daemon) setEtcd(e Etcd) {
	d.mu.Lock()
	d.etcd = e
	d.mu.Unlock()
}

// setPhase records the phase for /healthz and tells the service manager.
func (d *Daemon) setPhase(p Phase, status string) {
	d.phase.Store(p)
	d.notify("STATUS=" + status)
}

func (d *Daemon) notify(state string) {
	if d.cfg.Notify == nil {
		return
	}
	if err := d.cfg.Notify.Notify(state); err != nil {
		d.cfg.Log.Debug("cannot notify the service manager", "err", err)
	}
}

func clientLogger(z *zap.Logger) *zap.Logger {
	if z == nil {
		return zap.NewNop()
	}
	return z.WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Named("etcd-client")
}
