package backup

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
)

// openWatch starts the watch from l.next unless something holds it back.
func (l *deltaLoop) openWatch(work context.Context) {
	if l.watch != nil || l.waitUpload || l.needFull || time.Now().Before(l.watchAfter) {
		return
	}
	ctx, cancel := context.WithCancel(work)
	l.watchCancel = cancel
	// The whole keyspace: an empty key with WithPrefix means every key.
	l.watch = l.etcd.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(l.next), clientv3.WithProgressNotify())
}

func (l *deltaLoop) stopWatch() {
	if l.watchCancel != nil {
		l.watchCancel()
	}
	l.watch, l.watchCancel = nil, nil
}

// retryWatch stops the watch and starts it again a little later.
func (l *deltaLoop) retryWatch(err error) {
	l.stopWatch()
	l.watchAfter = time.Now().Add(time.Second)
	l.log.Warn("delta watch ended; starting it again", "err", err, "from_revision", l.next)
}

// onWatch takes one watch response.
func (l *deltaLoop) onWatch(work context.Context, resp clientv3.WatchResponse, ok bool) {
	if !ok {
		l.retryWatch(errors.New("watch channel closed"))
		return
	}
	if resp.CompactRevision != 0 {
		l.stopWatch()
		l.log.Warn("changes the delta chain needs were compacted away in etcd; taking a full snapshot to start a new chain",
			"needed_from", l.next, "compact_revision", resp.CompactRevision)
		l.needFull, l.fullAfter = true, time.Time{}
		l.fullForCompaction(work)
		return
	}
	if err := resp.Err(); err != nil {
		l.retryWatch(err)
		return
	}
	l.etcdRev = max(l.etcdRev, resp.Header.Revision)
	if resp.IsProgressNotify() {
		// Every change up to the header's revision has been sent.
		l.seen = max(l.seen, resp.Header.Revision)
		l.next = max(l.next, l.seen+1)
		l.answerWaiting()
		l.updateFigures()
		return
	}
	events := make([]*mvccpb.Event, len(resp.Events))
	for i, ev := range resp.Events {
		events[i] = (*mvccpb.Event)(ev)
	}
	for i := 0; i < len(events); {
		rev := events[i].Kv.ModRevision
		j := i + 1
		for j < len(events) && events[j].Kv.ModRevision == rev {
			j++
		}
		if rev >= l.next {
			if err := l.accept(work, events[i:j]); err != nil {
				break
			}
		}
		i = j
	}
	l.answerWaiting()
	l.updateFigures()
}

var errBufferFull = errors.New("delta buffer full")

// accept adds one revision's events, with the lease records they need, or
// stops the watch at that revision when they do not fit or a lease cannot
// be looked up. etcd never splits a revision across watch responses (no
// fragmenting is asked for), so a revision is always whole.
func (l *deltaLoop) accept(work context.Context, events []*mvccpb.Event) error {
	rev := events[0].Kv.ModRevision
	missing := l.leases.missing(events)
	var size int64
	for _, ev := range events {
		size += int64(ev.Size()) + frameOverhead
	}
	// A lease record is at most three varints.
	size += int64(len(missing)) * (3*10 + 3 + frameOverhead)
	held := l.pending.size() + l.inflight.size()
	if held > 0 && held+size > l.limit {
		l.pause(rev)
		return errBufferFull
	}
	var leases []*leasepb.Lease
	for _, id := range missing {
		lease, err := l.leases.lookup(work, id)
		if err != nil {
			l.stopWatch()
			l.next = rev
			l.watchAfter = time.Now().Add(time.Second)
			l.log.Warn("cannot record a lease; the watch waits", "err", err, "revision", rev)
			return err
		}
		leases = append(leases, lease)
	}
	if l.pending == nil {
		l.pending = &deltaBatch{}
	}
	l.pending.addRevision(leases, events, time.Now())
	for _, id := range missing {
		l.leases.recorded(id)
	}
	l.next, l.seen = rev+1, max(l.seen, rev)
	if held := l.pending.size() + l.inflight.size(); held > l.highWater.Load() {
		l.highWater.Store(held)
	}
	return nil
}

// pause stops the watch at rev until the running upload ends; the changes
// from rev on are read again then. Cancelling is what keeps memory bounded:
// etcd's client queues the responses of a watch nobody reads without limit.
func (l *deltaLoop) pause(rev int64) {
	l.stopWatch()
	l.next = rev
	l.waitUpload = true
	l.pauses.Add(1)
	if l.metrics != nil {
		l.metrics.Delta.paused()
	}
}
