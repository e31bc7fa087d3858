package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/lease/leasepb"

	"etcdbrctl/providers/file"
)

// workload sizes a recorded history.
type workload struct {
	seed     uint64
	ops      int // random operations, half before the compaction, half after
	keys     int // size of the key space
	segments int // delta segments the watch is cut into
	probes   int // random revisions captured in each half
}

// history is a workload run against a real etcd member while a full
// snapshot and delta segments of it were taken, with the member's exact
// state at chosen revisions, read before the compaction made them unreadable.
type history struct {
	store    *file.Store
	root     string
	enc      Encryption
	full     Manifest
	segments []Manifest
	states   map[int64]map[string]*mvccpb.KeyValue
	probes   []int64 // the random revisions captured
	last     int64
}

func recordHistory(t *testing.T, w workload, enc Encryption) *history {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(w.seed, 99))
	store, root := newFileStore(t)
	h := &history{store: store, root: root, enc: enc, states: map[int64]map[string]*mvccpb.KeyValue{}}
	e, c := startEtcd(t, t.TempDir())
	defer e.Close()
	run := newRunner(t, c, rng, w.keys)

	for range 30 {
		run.op()
	}
	fullAt := time.Now()
	full, err := TakeFull(ctx, c, store, enc, fullAt)
	if err != nil {
		t.Fatal(err)
	}
	h.full = full
	h.capture(t, c, full.Revision)

	// The watch starts a few revisions before the snapshot, so the first
	// segment overlaps it, as a segment written across a full snapshot does.
	watchFrom := max(2, full.Revision-3)
	events := &eventLog{}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go events.follow(c.Watch(wctx, "", clientv3.WithPrefix(), clientv3.WithRev(watchFrom)))

	half := func() (from, to int64) {
		from = run.revision() + 1
		for range w.ops / 2 {
			run.op()
		}
		return from, run.revision()
	}
	var cuts []int64
	pick := func(from, to int64, n int) []int64 {
		var out []int64
		for range n {
			if to >= from {
				out = append(out, from+rng.Int64N(to-from+1))
			}
		}
		return out
	}
	captureHalf := func(from, to int64) {
		probes := pick(from, to, w.probes)
		h.probes = append(h.probes, probes...)
		halfCuts := pick(from, to-1, w.segments/2)
		cuts = append(cuts, halfCuts...)
		for _, r := range append(probes, to) {
			h.capture(t, c, r)
		}
		for _, r := range halfCuts {
			h.capture(t, c, r)
			h.capture(t, c, r+1)
		}
	}
	fromA, toA := half()
	captureHalf(fromA, toA)
	events.until(t, toA) // the watch is past the revisions compacted next
	compactAt := fromA + (toA-fromA)/2
	if _, err := c.Compact(ctx, compactAt, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	fromB, toB := half()
	captureHalf(fromB, toB)
	h.last = toB

	all := events.until(t, toB)
	stopWatch()
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	from := watchFrom
	segStart := fullAt.Add(-time.Second)
	for _, to := range append(cuts, toB) {
		if to < from {
			continue
		}
		m, err := WriteDelta(ctx, store, enc, from, to, segStart, func(dw *DeltaWriter) error {
			return run.writeSegment(dw, all, from, to)
		})
		if err != nil {
			t.Fatal(err)
		}
		h.segments = append(h.segments, m)
		from = to + 1
		time.Sleep(5 * time.Millisecond) // distinct times, for --to-time
		segStart = time.Now()
	}
	return h
}

func (h *history) capture(t *testing.T, c *clientv3.Client, rev int64) {
	if _, ok := h.states[rev]; ok {
		return
	}
	state, _ := dump(t, c, rev)
	h.states[rev] = state
}

// runner issues random operations and remembers the leases it granted.
type runner struct {
	t      *testing.T
	c      *clientv3.Client
	rng    *rand.Rand
	keys   int
	leases []clientv3.LeaseID
	ttl    map[clientv3.LeaseID]int64
}

func newRunner(t *testing.T, c *clientv3.Client, rng *rand.Rand, keys int) *runner {
	return &runner{t: t, c: c, rng: rng, keys: keys, ttl: map[clientv3.LeaseID]int64{}}
}

func (r *runner) key() string { return fmt.Sprintf("k/%04d", r.rng.IntN(r.keys)) }

func (r *runner) value() string {
	var n int
	switch p := r.rng.IntN(100); {
	case p < 5:
		n = 0
	case p < 50:
		n = 1 + r.rng.IntN(100)
	case p < 90:
		n = 100 + r.rng.IntN(900)
	case p < 99:
		n = 1000 + r.rng.IntN(9000)
	default:
		n = 100_000
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(r.rng.IntN(26))
	}
	return string(b)
}

func (r *runner) lease() clientv3.LeaseID {
	if len(r.leases) == 0 || r.rng.IntN(4) == 0 {
		ttl := int64(600 + r.rng.IntN(600))
		resp, err := r.c.Grant(context.Background(), ttl)
		if err != nil {
			r.t.Fatal(err)
		}
		r.leases = append(r.leases, resp.ID)
		r.ttl[resp.ID] = ttl
	}
	return r.leases[r.rng.IntN(len(r.leases))]
}

func (r *runner) op() {
	ctx := context.Background()
	var err error
	switch p := r.rng.IntN(100); {
	case p < 40:
		_, err = r.c.Put(ctx, r.key(), r.value())
	case p < 55:
		_, err = r.c.Delete(ctx, r.key())
	case p < 60:
		_, err = r.c.Delete(ctx, r.key()[:5], clientv3.WithPrefix()) // a range of keys
	case p < 75:
		seen := map[string]bool{}
		var ops []clientv3.Op
		for range 2 + r.rng.IntN(4) {
			k := r.key()
			if seen[k] {
				continue
			}
			seen[k] = true
			if r.rng.IntN(4) == 0 {
				ops = append(ops, clientv3.OpDelete(k))
			} else {
				ops = append(ops, clientv3.OpPut(k, r.value()))
			}
		}
		_, err = r.c.Txn(ctx).Then(ops...).Commit()
	case p < 95:
		_, err = r.c.Put(ctx, r.key(), r.value(), clientv3.WithLease(r.lease()))
	default:
		if len(r.leases) > 0 {
			i := r.rng.IntN(len(r.leases))
			_, err = r.c.Revoke(ctx, r.leases[i])
			r.leases = slices.Delete(r.leases, i, i+1)
		}
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *runner) revision() int64 {
	resp, err := r.c.Get(context.Background(), "rev")
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.Header.Revision
}

// writeSegment writes the events of revisions from..to, each lease a put
// uses recorded (from etcd's TimeToLive) before its first use in the segment.
func (r *runner) writeSegment(dw *DeltaWriter, all []*clientv3.Event, from, to int64) error {
	recorded := map[int64]bool{}
	for _, ev := range all {
		rev := ev.Kv.ModRevision
		if rev < from || rev > to {
			continue
		}
		if id := ev.Kv.Lease; ev.Type == mvccpb.PUT && id != 0 && !recorded[id] {
			recorded[id] = true
			l := &leasepb.Lease{ID: id, TTL: r.ttl[clientv3.LeaseID(id)]}
			resp, err := r.c.TimeToLive(context.Background(), clientv3.LeaseID(id))
			if err != nil {
				return err
			}
			l.RemainingTTL = resp.TTL
			if resp.TTL <= 0 { // revoked since; etcd keeps the granted TTL
				l.RemainingTTL = 0
			}
			if err := dw.Lease(l); err != nil {
				return err
			}
		}
		if err := dw.Event((*mvccpb.Event)(ev)); err != nil {
			return err
		}
	}
	return nil
}

// eventLog collects a watch's events.
type eventLog struct {
	mu     sync.Mutex
	events []*clientv3.Event
	err    error
}

func (l *eventLog) follow(wch clientv3.WatchChan) {
	for resp := range wch {
		l.mu.Lock()
		if err := resp.Err(); err != nil && l.err == nil {
			l.err = err
		}
		l.events = append(l.events, resp.Events...)
		l.mu.Unlock()
	}
}

// until waits for the events up to rev.
func (l *eventLog) until(t *testing.T, rev int64) []*clientv3.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		err, n := l.err, len(l.events)
		var last int64
		if n > 0 {
			last = l.events[n-1].Kv.ModRevision
		}
		if err != nil || last >= rev {
			out := slices.Clone(l.events)
			l.mu.Unlock()
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			return out
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the watch delivered up to revision %d of %d", last, rev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sameState compares two key spaces field by field.
func sameState(want, got map[string]*mvccpb.KeyValue) string {
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s missing", k))
		case string(g.Value) != string(w.Value) || g.CreateRevision != w.CreateRevision || g.ModRevision != w.ModRevision ||
			g.Version != w.Version || g.Lease != w.Lease:
			diffs = append(diffs, fmt.Sprintf("%s: got create %d mod %d version %d lease %x value %d bytes; want create %d mod %d version %d lease %x value %d bytes",
				k, g.CreateRevision, g.ModRevision, g.Version, g.Lease, len(g.Value), w.CreateRevision, w.ModRevision, w.Version, w.Lease, len(w.Value)))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s should not exist", k))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "\n")
}
