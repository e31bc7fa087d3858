package backup

import (
	"context"
	"fmt"
)

// deltaRequest asks the loop for a delta (upTo > 0: everything up to that
// revision stored) or a full snapshot that starts a new chain.
type deltaRequest struct {
	ctx   context.Context
	full  bool
	upTo  int64
	reply chan deltaReply // buffered: the loop never waits for the caller
}

type deltaReply struct {
	m   Manifest
	err error
}

// ask hands a request to the loop and waits for its answer. ok is false when
// the loop ended before taking it.
func (l *deltaLoop) ask(ctx context.Context, req *deltaRequest) (Manifest, error, bool) {
	req.ctx, req.reply = ctx, make(chan deltaReply, 1)
	select {
	case l.requests <- req:
	case <-l.done:
		return Manifest{}, nil, false
	case <-ctx.Done():
		return Manifest{}, ctx.Err(), true
	}
	select {
	case r := <-req.reply:
		return r.m, r.err, true
	case <-ctx.Done():
		return Manifest{}, ctx.Err(), true
	case <-l.done:
		select {
		case r := <-req.reply:
			return r.m, r.err, true
		default:
			return Manifest{}, ErrDeltasOff, true
		}
	}
}

// serve runs a request inside the loop.
func (l *deltaLoop) serve(ctx, work context.Context, req *deltaRequest) {
	if req.full {
		// The full snapshot stops with the caller, or with the loop's work.
		fctx, cancel := context.WithCancel(req.ctx)
		stop := context.AfterFunc(work, cancel)
		m, err := l.takeFullStopped(fctx, work)
		stop()
		cancel()
		req.reply <- deltaReply{m, err}
		return
	}
	if l.committed >= req.upTo && l.pending.empty() && l.inflight == nil {
		req.reply <- deltaReply{err: fmt.Errorf("%w (revision %d)", ErrNoChanges, l.committed)}
		return
	}
	l.waiters = append(l.waiters, req)
	l.answerWaiting()
	if l.seen < req.upTo && l.watch != nil {
		l.etcd.RequestProgress(work)
	}
}

// answerWaiting asks for a flush when a waiting request's revisions have all
// arrived.
func (l *deltaLoop) answerWaiting() {
	for _, w := range l.waiters {
		if l.seen >= w.upTo && l.committed < w.upTo {
			l.flushDue = true
		}
	}
}

// answer replies to the requests that m, just stored, satisfies.
func (l *deltaLoop) answer(m Manifest) {
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if l.committed >= w.upTo {
			w.reply <- deltaReply{m: m}
			continue
		}
		keep = append(keep, w)
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
}

// expireWaiters drops the requests whose callers gave up.
func (l *deltaLoop) expireWaiters() {
	keep := l.waiters[:0]
	for _, w := range l.waiters {
		if w.ctx.Err() == nil {
			keep = append(keep, w)
		}
	}
	clear(l.waiters[len(keep):])
	l.waiters = keep
}

func (l *deltaLoop) answerAll(err error) {
	for _, w := range l.waiters {
		w.reply <- deltaReply{err: err}
	}
	l.waiters = nil
}
