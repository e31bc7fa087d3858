package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/providers"
)

// DeltaSource is what delta snapshots need of etcd; *clientv3.Client has it.
type DeltaSource interface {
	Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan
	RequestProgress(ctx context.Context) error
	Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error)
	leaseAsker
}

var (
	// ErrNoChanges is returned by TakeDelta when everything etcd holds is
	// already stored.
	ErrNoChanges = errors.New("no changes since the last backup")
	// ErrDeltasOff is returned by TakeDelta when delta snapshots are not
	// running (--delta-snapshot-period 0, or etcd not ready yet).
	ErrDeltasOff = errors.New("delta snapshots are not running")
)

const (
	// housekeeping is how often the loop retries what failed and refreshes
	// the lag figures.
	housekeeping = 500 * time.Millisecond
	// drainWait bounds how long a stop waits for the watch to deliver the
	// changes made before it.
	drainWait = 5 * time.Second
	// maxRetryDelay bounds the wait between attempts at a failing upload,
	// watch or full snapshot.
	maxRetryDelay = 30 * time.Second
)

// deltaLoop turns a watch over the whole keyspace into delta segments. One
// goroutine owns all of its state; uploads run beside it, one at a time.
//
// Memory: the changes held (the segment uploading plus the one filling)
// never exceed limit, except for a single revision larger than it. A
// segment is cut once half the limit is waiting, so the other half can fill
// while it uploads; when the store is slower than etcd and the buffer is
// full, the watch is cancelled (etcd's client would otherwise queue its
// responses without bound) and started again from the next revision once
// the upload is done.
type deltaLoop struct {
	etcd    DeltaSource
	store   providers.Store
	enc     Encryption
	period  time.Duration
	limit   int64
	log     *slog.Logger
	metrics *Metrics
	// full takes a full snapshot; the loop calls it with its watch stopped.
	full func(ctx context.Context) (Manifest, error)

	requests chan *deltaRequest
	uploads  chan uploadResult
	done     chan struct{}

	// The chain being extended.
	committed int64     // newest revision stored in the chain
	lastTime  time.Time // time of the chain's newest backup
	leases    leaseRecorder

	pending  *deltaBatch // changes not yet uploading
	inflight *deltaBatch // the segment uploading

	// The watch.
	watchCancel context.CancelFunc
	watch       clientv3.WatchChan
	next        int64 // revision the watch starts from
	seen        int64 // every change up to this revision has arrived
	etcdRev     int64 // etcd's revision, as last heard

	waitUpload bool      // the buffer is full: watch stopped until the upload ends
	watchAfter time.Time // the watch failed: start it again after this
	needFull   bool      // the watch's start was compacted: a full snapshot is due
	fullAfter  time.Time
	flushDue   bool      // the period ended, or a flush was asked for
	flushAfter time.Time // an upload failed: try again after this
	retryDelay time.Duration
	waiters    []*deltaRequest

	highWater atomic.Int64 // most bytes held at once, for tests and figures
	pauses    atomic.Int64 // times the watch paused for a full buffer
	ready     atomic.Bool  // the loop has a chain to extend
}

func (l *deltaLoop) started() bool { return l.ready.Load() }

func newDeltaLoop(etcd DeltaSource, s *Scheduler) *deltaLoop {
	limit := s.DeltaMemoryLimit
	if limit <= 0 {
		limit = DefaultDeltaMemoryLimit
	}
	return &deltaLoop{
		etcd: etcd, store: s.Store, enc: s.Encryption, period: s.DeltaPeriod, limit: limit,
		log: s.Log, metrics: s.Metrics, full: s.takeFull,
		requests: make(chan *deltaRequest),
		uploads:  make(chan uploadResult, 1),
		done:     make(chan struct{}),
		leases:   leaseRecorder{etcd: etcd},
	}
}

// DefaultDeltaMemoryLimit is the buffer bound when none is set.
const DefaultDeltaMemoryLimit = 64 << 20

type uploadResult struct {
	batch *deltaBatch
	m     Manifest
	took  time.Duration
	err   error
}

// run extends the newest chain until ctx ends, then stores what it holds
// under work, which the caller cancels when the stop grace is over.
func (l *deltaLoop) run(ctx, work context.Context) {
	defer close(l.done)
	defer l.stopWatch()
	if !l.start(ctx, work) {
		return
	}
	l.ready.Store(true)
	period := time.NewTicker(l.period)
	defer period.Stop()
	tick := time.NewTicker(housekeeping)
	defer tick.Stop()
	for {
		l.openWatch(work)
		l.maybeFlush(work)
		select {
		case <-ctx.Done():
			l.drain(work)
			return
		case resp, ok := <-l.watch:
			l.onWatch(work, resp, ok)
		case r := <-l.uploads:
			l.uploaded(r)
		case req := <-l.requests:
			l.serve(ctx, work, req)
		case <-period.C:
			l.flushDue = !l.pending.empty()
		case <-tick.C:
			l.housekeep(work)
		}
	}
}

// start finds where the newest chain ends and resumes it, or takes a full
// snapshot to start one when it cannot be resumed.
func (l *deltaLoop) start(ctx, work context.Context) bool {
	delay := time.Second
	for {
		reason, err := l.resume(ctx)
		if err == nil && reason == "" {
			return true
		}
		if err == nil {
			l.log.Info("starting a new delta chain with a full snapshot", "reason", reason)
			var m Manifest
			if m, err = l.full(work); err == nil {
				l.rebase(m)
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
		l.log.Warn("cannot start delta snapshots yet; trying again", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// resume sets the loop up after the newest chain, or says why a new chain
// is needed.
func (l *deltaLoop) resume(ctx context.Context) (string, error) {
	cat, err := ReadCatalog(ctx, l.store)
	if err != nil {
		return "", err
	}
	chain, ok := cat.LatestChain()
	if !ok || !chain.HasFull() {
		return "the store holds no full snapshot to extend", nil
	}
	if len(chain.Gaps) > 0 {
		g := chain.Gaps[0]
		return fmt.Sprintf("the newest chain breaks after revision %d (next delta starts at %d)", g.After.Revision, g.Next.FromRevision), nil
	}
	rev, err := l.currentRevision(ctx)
	if err != nil {
		return "", err
	}
	last := chain.Last()
	if last.Revision > rev {
		return fmt.Sprintf("the backups reach revision %d but etcd is at %d (restored to an earlier point?)", last.Revision, rev), nil
	}
	l.committed, l.lastTime = last.Revision, last.Time
	l.next, l.seen, l.etcdRev = last.Revision+1, last.Revision, rev
	l.leases.reset()
	l.log.Info("delta snapshots resume the newest chain", "full", chain.Full.Key, "from_revision", l.next)
	return "", nil
}

// rebase starts a new chain on the full snapshot m. Changes held are in it.
func (l *deltaLoop) rebase(m Manifest) {
	l.pending = nil
	l.committed, l.lastTime = m.Revision, m.Time
	l.next, l.seen = m.Revision+1, m.Revision
	l.etcdRev = max(l.etcdRev, m.Revision)
	l.needFull = false
	l.leases.reset()
	l.answer(m)
	l.updateFigures()
}

func (l *deltaLoop) currentRevision(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := l.etcd.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read etcd's revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// maybeFlush starts an upload when one is due and none is running.
func (l *deltaLoop) maybeFlush(work context.Context) {
	if l.inflight != nil || l.pending.empty() || time.Now().Before(l.flushAfter) {
		return
	}
	if l.flushDue || l.waitUpload || l.pending.size() >= l.limit/2 {
		l.startUpload(work)
	}
}

func (l *deltaLoop) startUpload(work context.Context) {
	b := l.pending
	l.pending, l.inflight, l.flushDue = nil, b, false
	// Segments of a chain sort by time after its full snapshot and each
	// other, however the clock and millisecond rounding fall.
	at := b.firstSeen
	if floor := l.lastTime.Truncate(time.Millisecond).Add(time.Millisecond); at.Before(floor) {
		at = floor
	}
	from := l.committed + 1
	go func() {
		start := time.Now()
		m, err := WriteDelta(work, l.store, l.enc, from, b.last, at, b.fill)
		l.uploads <- uploadResult{batch: b, m: m, took: time.Since(start), err: err}
	}()
}

// uploaded takes the result of an upload.
func (l *deltaLoop) uploaded(r uploadResult) {
	l.inflight = nil
	l.metrics.SnapshotTaken(KindDelta, r.took, r.m, r.err)
	if r.err != nil {
		// Nothing is lost: the changes go back in front of the newer ones.
		if l.pending == nil {
			l.pending = &deltaBatch{}
		}
		l.pending.prepend(r.batch)
		l.retryDelay = min(max(2*l.retryDelay, time.Second), maxRetryDelay)
		l.flushAfter = time.Now().Add(l.retryDelay)
		if !errors.Is(r.err, context.Canceled) {
			l.log.Error("delta snapshot failed; its changes are kept for the next attempt",
				"err", r.err, "revisions", fmt.Sprintf("%d-%d", l.committed+1, r.batch.last), "retry_in", l.retryDelay)
		}
		l.updateFigures()
		return
	}
	l.retryDelay, l.flushAfter, l.waitUpload = 0, time.Time{}, false
	l.committed, l.lastTime = r.m.Revision, r.m.Time
	l.log.Info("delta snapshot taken", "revisions", fmt.Sprintf("%d-%d", r.m.FromRevision, r.m.Revision),
		"events", r.m.Events, "stored_bytes", r.m.Size, "key", r.m.Name().String(), "took", r.took.Round(time.Millisecond))
	l.answer(r.m)
	l.updateFigures()
}

// waitInflight blocks until the running upload, if any, ends.
func (l *deltaLoop) waitInflight() {
	if l.inflight != nil {
		l.uploaded(<-l.uploads)
	}
}

// flushNow stores everything held, waiting for it: one attempt.
func (l *deltaLoop) flushNow(work context.Context) {
	l.waitInflight()
	if !l.pending.empty() {
		l.startUpload(work)
		l.waitInflight()
	}
}

func (l *deltaLoop) housekeep(work context.Context) {
	if l.needFull && !time.Now().Before(l.fullAfter) {
		l.fullForCompaction(work)
	}
	l.expireWaiters()
	if len(l.waiters) > 0 && l.watch != nil {
		l.etcd.RequestProgress(work)
	}
	l.updateFigures()
}

// fullForCompaction starts a new chain after the watch's start revision was
// compacted away; on failure it is tried again later.
func (l *deltaLoop) fullForCompaction(work context.Context) {
	if _, err := l.takeFullStopped(work, work); err != nil {
		l.retryDelay = min(max(2*l.retryDelay, time.Second), maxRetryDelay)
		l.fullAfter = time.Now().Add(l.retryDelay)
		l.log.Error("full snapshot after compaction failed; trying again", "err", err, "in", l.retryDelay)
	}
}

// takeFullStopped takes a full snapshot with the watch stopped, after
// storing what the current chain holds, and starts a new chain on it.
func (l *deltaLoop) takeFullStopped(ctx, work context.Context) (Manifest, error) {
	l.stopWatch()
	l.flushNow(work)
	m, err := l.full(ctx)
	if err != nil {
		return Manifest{}, err
	}
	l.rebase(m)
	return m, nil
}

// drain stores, within the stop grace, the changes made before the stop.
func (l *deltaLoop) drain(work context.Context) {
	if rev, err := l.currentRevision(work); err == nil && rev > l.seen && l.watch != nil {
		deadline := time.NewTimer(drainWait)
		defer deadline.Stop()
		l.etcd.RequestProgress(work)
		for l.seen < rev && l.watch != nil {
			select {
			case resp, ok := <-l.watch:
				l.onWatch(work, resp, ok)
			case r := <-l.uploads:
				l.uploaded(r)
			case <-deadline.C:
				l.log.Warn("the watch did not deliver the last changes before the stop", "stored_through", l.seen, "etcd_revision", rev)
				rev = 0
			case <-work.Done():
				rev = 0
			}
			l.maybeFlush(work)
		}
	}
	l.stopWatch()
	l.flushNow(work)
	if !l.pending.empty() {
		l.log.Error("changes not stored at stop; the next start takes them from etcd if its data survives",
			"revisions", fmt.Sprintf("%d-%d", l.committed+1, l.pending.last))
	}
	l.answerAll(ErrDeltasOff)
}

func (l *deltaLoop) updateFigures() {
	held := l.pending.size() + l.inflight.size()
	var oldest time.Time
	for _, b := range []*deltaBatch{l.inflight, l.pending} {
		if !b.empty() && (oldest.IsZero() || b.firstSeen.Before(oldest)) {
			oldest = b.firstSeen
		}
	}
	if l.metrics != nil {
		l.metrics.Delta.setLag(max(l.etcdRev, l.seen), l.committed, oldest)
		l.metrics.Delta.setBuffered(held)
	}
}
