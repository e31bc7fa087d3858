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

// Scheduler takes full snapshots on a schedule and collects garbage.
type Scheduler struct {
	Etcd       Snapshotter
	Store      providers.Store
	Encryption Encryption
	Schedule   Schedule
	MaxBackups int
	GCPeriod   time.Duration // 0 turns garbage collection off
	Metrics    *Metrics
	Log        *slog.Logger

	mu    sync.Mutex  // one snapshot at a time
	final atomic.Bool // a final snapshot was taken: the schedule has ended
}

// retryDelay is how soon a failed scheduled snapshot is tried again.
const retryDelay = time.Minute

// Run takes a full snapshot at once unless the store has one younger than a
// schedule period, then one at every tick, until ctx is done. Snapshots and
// garbage collection run under work, so one in flight when ctx ends can
// finish until the caller cancels work.
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
		_, err := s.TakeFull(work)
		now := time.Now()
		next = s.Schedule.Next(now)
		if err != nil && now.Add(retryDelay).Before(next) {
			next = now.Add(retryDelay)
		}
	}
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
func (s *Scheduler) TakeFull(ctx context.Context) (Manifest, error) {
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

func (s *Scheduler) collect(ctx context.Context) {
	res, err := CollectGarbage(ctx, s.Store, s.MaxBackups, time.Now())
	for _, e := range res.Backups {
		s.Metrics.GarbageCollected(e.Kind, nil)
		s.Log.Info("garbage collection removed a backup", "key", e.Key, "revision", e.Revision)
	}
	for _, k := range res.Orphans {
		s.Metrics.OrphanCollected(nil)
		s.Log.Info("garbage collection removed an uncommitted data object", "key", k)
	}
	if err != nil && ctx.Err() == nil {
		s.Log.Error("garbage collection failed", "err", err)
	}
}
