// Package embedded runs etcd in-process through etcd's embed package, behind
// the small interface the daemon uses for any etcd it supervises: start and
// wait until ready, a client URL, a channel of fatal errors, and stop.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver"
)

var (
	// ErrNotReady means etcd did not become ready to serve clients in time.
	ErrNotReady = errors.New("etcd did not become ready")
	// ErrServerStopped means the etcd server stopped although nobody asked
	// it to (for example, this member was removed from the cluster).
	ErrServerStopped = errors.New("etcd server stopped unexpectedly")
)

// Etcd is a running embedded etcd member.
type Etcd struct {
	etcd      *embed.Etcd
	clientURL string

	// closing demotes etcd's error lines to debug from the moment a stop
	// begins; the log adapter holds a pointer to it.
	closing atomic.Bool

	stopOnce      sync.Once
	stopRequested chan struct{} // closed when Stop begins
	watchDone     chan struct{} // closed when watch has returned
	stopped       chan struct{} // closed when etcd is closed and errc too
	errc          chan error
}

// Start starts etcd with cfg and waits until it is ready to serve clients.
// It gives up when ctx is done or, if readyTimeout is positive, after
// readyTimeout; then it closes etcd before returning the error, so nothing
// is left listening. etcd logs through log (slog.Default() if nil); Start
// replaces cfg.ZapLoggerBuilder to do so.
func Start(ctx context.Context, cfg *embed.Config, log *slog.Logger, readyTimeout time.Duration) (*Etcd, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start etcd: %w", context.Cause(ctx))
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Etcd{
		stopRequested: make(chan struct{}),
		watchDone:     make(chan struct{}),
		stopped:       make(chan struct{}),
		errc:          make(chan error, 1),
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(log.Handler(), &e.closing))

	started, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	e.etcd = started

	if err := e.waitReady(ctx, readyTimeout); err != nil {
		e.abort()
		return nil, err
	}
	if e.clientURL, err = clientURL(started); err != nil {
		e.abort()
		return nil, err
	}
	go e.watch()
	return e, nil
}

// abort closes an etcd that Start will not hand out. embed's Close waits for
// client serving to end, which waits for readiness or for the server to be
// stopping, so a member that never became ready is stopped first
// (etcd-io/etcd#9533).
func (e *Etcd) abort() {
	e.closing.Store(true)
	e.etcd.Server.HardStop()
	e.etcd.Close()
}

func (e *Etcd) waitReady(ctx context.Context, timeout time.Duration) error {
	var timedOut <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		timedOut = timer.C
	}
	select {
	case <-e.etcd.Server.ReadyNotify():
		return nil
	case <-timedOut:
		return fmt.Errorf("%w within %s", ErrNotReady, timeout)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, context.Cause(ctx))
	case err := <-e.etcd.Err():
		return fmt.Errorf("%w: %w", ErrNotReady, servingError(err))
	case <-e.etcd.Server.StopNotify():
		return fmt.Errorf("%w: %w", ErrNotReady, ErrServerStopped)
	}
}

// watch reports the first fatal error that is not caused by Stop.
func (e *Etcd) watch() {
	defer close(e.watchDone)
	var err error
	select {
	case serveErr, ok := <-e.etcd.Err():
		if !ok {
			return
		}
		err = servingError(serveErr)
	case <-e.etcd.Server.StopNotify():
		err = ErrServerStopped
	case <-e.stopRequested:
		return
	}
	if !e.closing.Load() {
		e.errc <- err // buffered; the only send
	}
}

func servingError(err error) error {
	if err == nil {
		return errors.New("etcd stopped serving a listener")
	}
	return fmt.Errorf("etcd serving: %w", err)
}

// ClientURL returns a URL that a client can dial, built from the address the
// client listener is actually bound to (so port 0 works).
func (e *Etcd) ClientURL() string { return e.clientURL }

// Err receives a fatal error if etcd fails while running; the caller should
// then Stop it. The channel is closed once Stop has closed etcd.
func (e *Etcd) Err() <-chan error { return e.errc }

// Server returns the etcd server, for callers that need it directly.
func (e *Etcd) Server() *etcdserver.EtcdServer { return e.etcd.Server }

// Stop closes etcd gracefully. It returns when etcd is closed or ctx is done;
// in the latter case closing goes on in the background. It is safe to call
// more than once.
func (e *Etcd) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.closing.Store(true)
		close(e.stopRequested)
		go func() {
			e.etcd.Close()
			<-e.watchDone
			close(e.errc)
			close(e.stopped)
		}()
	})
	select {
	case <-e.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop etcd: %w", context.Cause(ctx))
	}
}
