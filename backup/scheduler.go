package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/adhocore/gronx"

	"etcdbrctl/providers"
)

// ParseSchedule checks a standard five-field cron expression.
func ParseSchedule(expr string) (Schedule, error) {
	if !gronx.IsValid(expr) {
		return "", fmt.Errorf("%q is not a valid cron expression (five fields: minute hour day-of-month month day-of-week)", expr)
	}
	if _, err := gronx.NextTickAfter(expr, time.Now(), false); err != nil {
		return "", fmt.Errorf("cron expression %q never fires: %w", expr, err)
	}
	return Schedule(expr), nil
}

// Schedule is a validated cron expression.
type Schedule string

// Next returns the first tick after t.
func (s Schedule) Next(t time.Time) time.Time {
	next, err := gronx.NextTickAfter(string(s), t.UTC(), false)
	if err != nil { // validated at parse time; a year-bounded expression may run out
		return t.Add(100 * 365 * 24 * time.Hour)
	}
	return next
}

// Period is the interval between the ticks around t.
func (s Schedule) Period(t time.Time) time.Duration {
	next := s.Next(t)
	return s.Next(next).Sub(next)
}

// Scheduler takes full snapshots on a schedule, delta snapshots in between,
// and collects garbage.
type Scheduler struct {
	// Etcd streams full snapshots; for delta snapshots it must also be a
	// DeltaSource, as *clientv3.Client is.
	Etcd       Snapshotter
	Store      providers.Store
	Encryption Encryption
	Schedule   Schedule
	MaxBackups int           // chains LimitBased keeps
	GCPolicy   GCPolicyKind  // "" is LimitBased
	GCPeriod   time.Duration // 0 turns garbage collection off
	// DeltaPeriod is how often changes are stored as a delta segment; 0
	// turns delta snapshots off.
	DeltaPeriod time.Duration
	// DeltaMemoryLimit bounds the changes held in memory (bytes); 0 is
	// DefaultDeltaMemoryLimit.
	DeltaMemoryLimit int64
	// DeltaRetention: see GCPolicy.DeltaRetention.
	DeltaRetention time.Duration
	Metrics        *Metrics
	Log            *slog.Logger

	mu    sync.Mutex // one full snapshot at a time
	loop  atomic.Pointer[deltaLoop]
	gc    *Collector
	gcMu  sync.Mutex
	final atomic.Bool // a final snapshot was taken: the schedule has ended
}

// retryDelay is how soon a failed scheduled snapshot is tried again.
const retryDelay = time.Minute

// Run takes a full snapshot at once unless the store has one younger than a
// schedule period, then one at every tick, until ctx is done. With a delta
// period it also extends the newest chain with delta segments from a watch.
// Snapshots and garbage collection run under work, so one in flight when ctx
// ends can finish (and the changes held are stored) until the caller cancels
// work.
func (s *Scheduler) Run(ctx, work context.Context) {
	var gcTick <-chan time.Time
	if s.GCPeriod > 0 {
		t := time.NewTicker(s.GCPeriod)
		defer t.Stop()
		gcTick = t.C
	}
	next := time.Now()
	if fresh, err := s.hasFreshFull(ctx, next); err != nil {
		s.Log.Warn("cannot read the store; taking a full snapshot", "err", err)
	} else if fresh {
		next = s.Schedule.Next(next)
	}
	if s.DeltaPeriod > 0 {
		if ctx.Err() == nil && !next.After(time.Now()) {
			// The first chain starts from a full snapshot taken now.
			next = s.nextAfter(s.takeFull(work))
		}
		if stop := s.startDeltas(ctx, work); stop != nil {
			defer stop()
		}
	}
	for {
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-gcTick:
			timer.Stop()
			s.collect(work)
			continue
		case <-timer.C:
		}
		if s.final.Load() {
			next = s.Schedule.Next(time.Now())
			continue
		}
		next = s.nextAfter(s.TakeFull(work))
	}
}

// nextAfter is when the next full snapshot is due after one that ended now.
func (s *Scheduler) nextAfter(_ Manifest, err error) time.Time {
	now := time.Now()
	next := s.Schedule.Next(now)
	if err != nil && now.Add(retryDelay).Before(next) {
		next = now.Add(retryDelay)
	}
	return next
}

// startDeltas runs the delta loop beside the schedule; the function it
// returns waits for the loop to store what it holds and end.
func (s *Scheduler) startDeltas(ctx, work context.Context) func() {
	src, ok := s.Etcd.(DeltaSource)
	if !ok {
		s.Log.Error("delta snapshots need an etcd client that can watch; they are off")
		return nil
	}
	l := newDeltaLoop(src, s)
	s.loop.Store(l)
	go l.run(ctx, work)
	return func() {
		<-l.done
		s.loop.CompareAndSwap(l, nil)
	}
}

// TakeDelta stores every change etcd holds now in a delta segment, and
// returns it. When a full snapshot stored them meanwhile, its manifest is
// returned. It fails with ErrNoChanges when everything is already stored,
// and with ErrDeltasOff when delta snapshots are not running.
func (s *Scheduler) TakeDelta(ctx context.Context) (Manifest, error) {
	l := s.loop.Load()
	if l == nil {
		return Manifest{}, ErrDeltasOff
	}
	rev, err := l.currentRevision(ctx)
	if err != nil {
		return Manifest{}, err
	}
	m, err, ok := l.ask(ctx, &deltaRequest{upTo: rev})
	if !ok {
		return Manifest{}, ErrDeltasOff
	}
	return m, err
}

func (s *Scheduler) hasFreshFull(ctx context.Context, now time.Time) (bool, error) {
	c, err := ReadCatalog(ctx, s.Store)
	if err != nil {
		return false, err
	}
	latest, ok := c.LatestFull()
	if !ok {
		s.Metrics.SnapshotRequired(KindFull, true)
		return false, nil
	}
	s.Metrics.LatestSnapshot(Manifest{Kind: KindFull, Revision: latest.Revision, Time: latest.Time})
	fresh := now.Sub(latest.Time) < s.Schedule.Period(now)
	s.Metrics.SnapshotRequired(KindFull, !fresh)
	return fresh, nil
}

// TakeFull takes one full snapshot now, waiting for any other to finish.
// While delta snapshots run, it ends the current chain (its changes are
// stored first) and starts a new one.
func (s *Scheduler) TakeFull(ctx context.Context) (Manifest, error) {
	if l := s.loop.Load(); l != nil {
		if m, err, ok := l.ask(ctx, &deltaRequest{full: true}); ok {
			return m, err
		}
	}
	return s.takeFull(ctx)
}

func (s *Scheduler) takeFull(ctx context.Context) (Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	m, err := TakeFull(ctx, s.Etcd, s.Store, s.Encryption, start)
	took := time.Since(start)
	s.Metrics.SnapshotTaken(KindFull, took, m, err)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.Log.Error("full snapshot failed", "err", err, "took", took.Round(time.Millisecond))
		}
		return Manifest{}, err
	}
	s.Log.Info("full snapshot taken", "revision", m.Revision, "db_bytes", m.DBSize,
		"stored_bytes", m.Size, "key", m.Name().String(), "took", took.Round(time.Millisecond))
	return m, nil
}

// Policy is the garbage collection policy the scheduler's fields describe.
func (s *Scheduler) Policy() GCPolicy {
	kind := s.GCPolicy
	if kind == "" {
		kind = LimitBased
	}
	return GCPolicy{Kind: kind, MaxBackups: s.MaxBackups, DeltaRetention: s.DeltaRetention}
}

func (s *Scheduler) collect(ctx context.Context) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if s.gc == nil {
		s.gc = &Collector{Store: s.Store, Policy: s.Policy()}
	}
	res, err := s.gc.Collect(ctx, time.Now())
	for _, e := range res.Backups {
		s.Metrics.GarbageCollected(e.Kind, nil)
		s.Log.Info("garbage collection removed a backup", "key", e.Key, "revision", e.Revision)
	}
	for _, k := range res.Orphans {
		s.Metrics.OrphanCollected(nil)
		s.Log.Info("garbage collection removed an uncommitted data object", "key", k)
	}
	if res.Leftovers > 0 {
		s.Log.Info("garbage collection removed leftovers of interrupted uploads", "count", res.Leftovers)
	}
	if err != nil && ctx.Err() == nil {
		s.Log.Error("garbage collection failed", "err", err)
	}
}
