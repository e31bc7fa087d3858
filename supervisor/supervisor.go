// Package supervisor is the long-running daemon: it prepares the data dir,
// starts etcd, runs the backup schedule once etcd is ready, and serves the
// HTTP API, then stops all of it cleanly.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	Log       *slog.Logger
	// Zap carries the etcd client's own log; nil discards it.
	Zap *zap.Logger
}

// Phase is where the daemon is in its life, reported by /healthz.
type Phase string

const (
	PhaseValidating Phase = "validating"
	PhaseStarting   Phase = "starting"
	PhaseRunning    Phase = "running"
	PhaseStopping   Phase = "stopping"
)

// Daemon runs one etcd member with its backups.
type Daemon struct {
	cfg      Config
	registry *prometheus.Registry
	phase    atomic.Value // Phase
	client   atomic.Pointer[clientv3.Client]
	sched    *backup.Scheduler
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

// Run blocks until ctx is done (a clean stop, nil error) or etcd fails.
func (d *Daemon) Run(ctx context.Context) (err error) {
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

	if err := d.cfg.Restorer.Prepare(ctx, d.cfg.DataDir); err != nil {
		if ctx.Err() != nil {
			log.Info("stopped while preparing the data dir; it is left as it was")
			return nil
		}
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	d.phase.Store(PhaseStarting)
	etcd, err := d.cfg.StartEtcd(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("start etcd: %w", err)
	}
	defer func() {
		d.phase.Store(PhaseStopping)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
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

	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{etcd.ClientURL()},
		DialTimeout: 5 * time.Second,
		// The client's info lines (one per snapshot stream) are noise here.
		Logger: clientLogger(d.cfg.Zap),
	})
	if err != nil {
		return fmt.Errorf("connect to etcd: %w", err)
	}
	defer client.Close()
	d.sched.Etcd = client
	d.client.Store(client) // publishes sched.Etcd to the HTTP handlers too
	d.phase.Store(PhaseRunning)
	log.Info("etcd is ready", "client_url", etcd.ClientURL(), "data_dir", d.cfg.DataDir)

	// On stop the schedule ends at once, but a snapshot in flight may finish
	// within StopGrace before etcd goes away.
	loopCtx, stopLoop := context.WithCancel(ctx)
	workCtx, abortWork := context.WithCancel(context.WithoutCancel(ctx))
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.sched.Run(loopCtx, workCtx)
	}()
	defer func() {
		stopLoop()
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
		log.Info("stopping")
		return nil
	case err, ok := <-etcd.Err():
		if !ok || err == nil {
			return errors.New("etcd stopped unexpectedly")
		}
		return fmt.Errorf("etcd failed: %w", err)
	}
}

func clientLogger(z *zap.Logger) *zap.Logger {
	if z == nil {
		return zap.NewNop()
	}
	return z.WithOptions(zap.IncreaseLevel(zap.WarnLevel)).Named("etcd-client")
}
