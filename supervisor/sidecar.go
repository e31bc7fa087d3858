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
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
)

// SidecarConfig is what a sidecar needs, already validated.
type SidecarConfig struct {
	// Connect makes one attempt to reach etcd: it returns a client once etcd
	// answered, or an error. It is called again until it succeeds.
	Connect func(ctx context.Context) (*clientv3.Client, error)
	// Endpoints name the etcd being reached, for messages.
	Endpoints []string
	Backup    *backup.Scheduler // Etcd and Log are filled in by RunSidecar
	// Gatherer is what /metrics exports.
	Gatherer prometheus.Gatherer
	// API is the bound listener of the HTTP API; nil turns it off.
	API         net.Listener
	APIOptions  APIOptions
	Initializer Initializer
	// RetryMax caps the wait between attempts to reach etcd (default 30s).
	RetryMax time.Duration
	// StopGrace bounds how long a snapshot in flight may take to finish on stop.
	StopGrace time.Duration
	Log       *slog.Logger
}

// RunSidecar backs up an etcd it does not run (the snapshot and server
// commands): it serves the API at once, waits until etcd answers, then takes
// snapshots on the schedule until ctx is done, which is a clean stop (nil).
// It gives up early only on errors that waiting cannot fix, such as a wrong
// password.
func RunSidecar(ctx context.Context, cfg SidecarConfig) (err error) {
	log := cfg.Log
	sched := cfg.Backup
	sched.Log = log
	var phase atomic.Value
	phase.Store(PhaseStarting)
	var client atomic.Pointer[clientv3.Client]

	if cfg.API != nil {
		api := &API{
			Phase:       func() Phase { return phase.Load().(Phase) },
			Etcd:        client.Load,
			Snapshots:   sched,
			Store:       sched.Store,
			Initializer: cfg.Initializer,
			Gatherer:    cfg.Gatherer,
			Options:     cfg.APIOptions,
			Log:         log,
		}
		apiCtx, stopAPIWork := context.WithCancel(context.WithoutCancel(ctx))
		srv := api.Server(apiCtx)
		apiDone := make(chan struct{})
		go func() {
			defer close(apiDone)
			if err := srv.Serve(cfg.API); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("HTTP API stopped", "err", err)
			}
		}()
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			srv.Shutdown(shutdownCtx)
			<-apiDone
			// An initialization in flight is cancelled, not cut off.
			stopAPIWork()
			api.Wait()
		}()
		log.Info("HTTP API listening", "addr", cfg.API.Addr().String())
	}

	c, err := waitForEtcd(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before etcd answered")
			return nil
		}
		return err
	}
	defer c.Close()
	sched.Etcd = c
	client.Store(c) // publishes sched.Etcd to the HTTP handlers too
	phase.Store(PhaseRunning)
	log.Info("etcd answers; snapshots follow the schedule", "endpoints", cfg.Endpoints, "schedule", string(sched.Schedule))

	loopCtx, stopLoop := context.WithCancel(ctx)
	workCtx, abortWork := context.WithCancel(context.WithoutCancel(ctx))
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		sched.Run(loopCtx, workCtx)
	}()
	<-ctx.Done()
	phase.Store(PhaseStopping)
	log.Info("stopping")
	stopLoop()
	select {
	case <-loopDone:
	case <-time.After(cfg.StopGrace):
		log.Warn("backup in flight did not finish within the stop grace period; abandoning it")
		abortWork()
		<-loopDone
	}
	abortWork()
	return nil
}

// waitForEtcd calls Connect until it succeeds, waiting longer each time up
// to RetryMax, and says each time what it waits for.
func waitForEtcd(ctx context.Context, cfg SidecarConfig) (*clientv3.Client, error) {
	maxWait := cfg.RetryMax
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	wait := min(time.Second, maxWait)
	for attempt := 1; ; attempt++ {
		c, err := cfg.Connect(ctx)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if permanent(err) {
			return nil, fmt.Errorf("etcd at %v refused the connection: %w", cfg.Endpoints, err)
		}
		cfg.Log.Warn("etcd is not reachable yet; retrying", "endpoints", cfg.Endpoints,
			"attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// permanent reports errors that waiting cannot fix.
func permanent(err error) bool {
	for _, e := range []error{
		rpctypes.ErrAuthFailed, rpctypes.ErrPermissionDenied, rpctypes.ErrUserEmpty,
		rpctypes.ErrUserNotFound,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
