package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// writeRound writes puts, deletes, multi-key transactions and keys with
// leases (one of them revoked), and returns etcd's revision after it.
func writeRound(t *testing.T, c *clientv3.Client, round int) (rev int64, leaseID clientv3.LeaseID) {
	t.Helper()
	ctx := context.Background()
	lease, err := c.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	short, err := c.Grant(ctx, 300)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		k := fmt.Sprintf("r%d/k%03d", round, i)
		var opts []clientv3.OpOption
		switch i % 5 {
		case 1:
			opts = append(opts, clientv3.WithLease(lease.ID))
		case 3:
			opts = append(opts, clientv3.WithLease(short.ID))
		}
		if _, err := c.Put(ctx, k, strings.Repeat("v", 10+i*7), opts...); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := c.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if i%6 == 0 {
			_, err := c.Txn(ctx).Then(
				clientv3.OpPut(k+"/a", "1"),
				clientv3.OpPut(k+"/b", "2", clientv3.WithLease(lease.ID)),
				clientv3.OpDelete(fmt.Sprintf("r%d/k%03d", round, i-1)),
			).Commit()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// Revoking deletes the keys attached to the lease in one revision.
	resp, err := c.Revoke(ctx, short.ID)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision, lease.ID
}

// TestDeltaChainMatchesHistory: the segments of a chain cover every revision
// from the full snapshot's on, with no gap or overlap, and hold exactly
// etcd's events; keys with leases come after a record of their lease; a
// full snapshot taken meanwhile starts a new chain that continues from it.
func TestDeltaChainMatchesHistory(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, _ := newFileStore(t)
	s := startScheduler(t, c, store, 50*time.Millisecond, 1<<20)
	ctx := context.Background()

	rev1, lease := writeRound(t, c, 1)
	m, err := s.TakeDelta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindDelta || m.Revision < rev1 {
		t.Fatalf("TakeDelta gave %s, want a delta through revision %d", m.Name(), rev1)
	}
	if _, err := s.TakeDelta(ctx); !errors.Is(err, ErrNoChanges) {
		t.Fatalf("TakeDelta with nothing new: %v, want ErrNoChanges", err)
	}
	full, err := s.TakeFull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rev2, lease2 := writeRound(t, c, 2)
	s.stop() // the final flush stores the rest

	chains := latestChains(t, store)
	if len(chains) != 2 {
		t.Fatalf("%d chains, want 2: %s", len(chains), describe(chains))
	}
	if chains[1].Full.Revision != full.Revision {
		t.Fatalf("second chain starts at %d, want the full snapshot's %d", chains[1].Full.Revision, full.Revision)
	}
	for i, want := range []int64{rev1, rev2} {
		ch := chains[i]
		last := ch.Last().Revision
		if i == 0 {
			// The first chain ends where the full snapshot takes over.
			if last != rev1 || full.Revision != rev1 {
				t.Fatalf("first chain ends at %d, full snapshot at %d, writes at %d", last, full.Revision, rev1)
			}
		} else if last != want {
			t.Fatalf("chain %d ends at revision %d, want %d", i, last, want)
		}
		recs := chainRecords(t, store, ch)
		sameEvents(t, recs, watchHistory(t, c, ch.Full.Revision+1, last))
		leases := leasesBeforeUse(t, recs)
		id := []clientv3.LeaseID{lease, lease2}[i]
		if l := leases[int64(id)]; l == nil || l.TTL != 600 || l.RemainingTTL < 1 || l.RemainingTTL > 600 {
			t.Fatalf("chain %d: lease record %+v, want granted TTL 600", i, l)
		}
	}
}

// TestDeltaFlushOnMemoryLimit: with a period that never ends and a slow
// store, a fast writer's changes are cut into segments by the memory limit,
// the watch is paused while the buffer is full, and the bytes held never
// exceed the limit.
func TestDeltaFlushOnMemoryLimit(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	fs, _ := newFileStore(t)
	store := &slowStore{Store: fs, delay: 250 * time.Millisecond}
	const limit = 256 << 10
	s := startScheduler(t, c, store, time.Hour, limit)
	l := s.loop.Load()
	ctx := context.Background()

	n := 600
	if testing.Short() {
		n = 250
	}
	value := strings.Repeat("x", 4<<10)
	writers := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := w; i < n; i += 4 {
				if _, err := c.Put(ctx, key(i), value); err != nil {
					writers <- err
					return
				}
			}
			writers <- nil
		}()
	}
	for range 4 {
		if err := <-writers; err != nil {
			t.Fatal(err)
		}
	}
	last, err := c.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeDelta(ctx); err != nil {
		t.Fatal(err)
	}
	high := l.highWater.Load()
	pauses := l.pauses.Load()
	s.stop()

	if high > limit || high < limit/2 {
		t.Fatalf("buffer high-water mark %d bytes, want at most the limit %d (and near it)", high, limit)
	}
	if pauses == 0 {
		t.Fatal("the watch never paused although the store was slower than the writer")
	}
	chains := latestChains(t, store)
	ch := chains[len(chains)-1]
	if ch.Last().Revision != last.Header.Revision {
		t.Fatalf("chain ends at %d, want %d", ch.Last().Revision, last.Header.Revision)
	}
	// Every segment but the last was cut by the limit, not the period.
	if min := int64(n*len(value)) / limit; int64(len(ch.Deltas)) < min {
		t.Fatalf("%d segments for %d bytes of changes and a %d-byte limit", len(ch.Deltas), n*len(value), limit)
	}
	sameEvents(t, chainRecords(t, store, ch), watchHistory(t, c, ch.Full.Revision+1, ch.Last().Revision))
	t.Logf("%d puts of %d bytes: %d segments, high-water %d of %d bytes, %v pauses", n, len(value), len(ch.Deltas), high, limit, pauses)
}

// TestDeltaFinalFlushOnStop: changes of a period that has not ended are
// stored when the loop stops.
func TestDeltaFinalFlushOnStop(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, _ := newFileStore(t)
	s := startScheduler(t, c, store, time.Hour, 1<<20)
	var rev int64
	for i := range 20 {
		resp, err := c.Put(context.Background(), key(i), "v")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	// The lag shows the changes seen and not stored.
	deadline := time.Now().Add(30 * time.Second)
	for s.gauge(t, "etcdbr_delta_lag_revisions") != 20 || s.gauge(t, "etcdbr_delta_buffered_bytes") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lag %v revisions, %v bytes held; want 20 revisions held",
				s.gauge(t, "etcdbr_delta_lag_revisions"), s.gauge(t, "etcdbr_delta_buffered_bytes"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.gauge(t, "etcdbr_delta_lag_seconds") <= 0 {
		t.Fatal("lag in seconds is 0 with changes waiting")
	}
	s.stop()
	for _, name := range []string{"etcdbr_delta_lag_revisions", "etcdbr_delta_lag_seconds", "etcdbr_delta_buffered_bytes"} {
		if v := s.gauge(t, name); v != 0 {
			t.Errorf("%s = %v after the final flush, want 0", name, v)
		}
	}
	chains := latestChains(t, store)
	ch := chains[len(chains)-1]
	if len(ch.Deltas) != 1 || ch.Last().Revision != rev {
		t.Fatalf("after stop: %s, want one delta through %d", describe(chains), rev)
	}
	sameEvents(t, chainRecords(t, store, ch), watchHistory(t, c, ch.Full.Revision+1, rev))
}

// TestDeltaAfterCompaction: when the revisions the chain needs next were
// compacted while the loop was stopped, it takes a full snapshot, says why,
// and a new chain goes on from it.
func TestDeltaAfterCompaction(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, _ := newFileStore(t)
	ctx := context.Background()
	s := startScheduler(t, c, store, 50*time.Millisecond, 1<<20)
	writeRound(t, c, 1)
	s.stop()
	first := latestChains(t, store)

	// Changes while no backup runs, then a compaction removes them.
	var rev int64
	for i := range 10 {
		resp, err := c.Put(ctx, key(i), "gone")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := c.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}

	s = startScheduler(t, c, store, 50*time.Millisecond, 1<<20)
	rev2, _ := writeRound(t, c, 2)
	if _, err := s.TakeDelta(ctx); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if !strings.Contains(s.logs.String(), "compacted") {
		t.Fatalf("the log does not say why a new chain started:\n%s", s.logs.String())
	}
	chains := latestChains(t, store)
	if len(chains) != len(first)+1 {
		t.Fatalf("chains before %s, after %s: want one more", describe(first), describe(chains))
	}
	ch := chains[len(chains)-1]
	if ch.Full.Revision < rev || ch.Last().Revision != rev2 {
		t.Fatalf("new chain %s, want a full at or after %d and deltas through %d", describe(chains[len(chains)-1:]), rev, rev2)
	}
	sameEvents(t, chainRecords(t, store, ch), watchHistory(t, c, ch.Full.Revision+1, rev2))
}

// TestTakeDeltaWhenOff: without delta snapshots, TakeDelta says so.
func TestTakeDeltaWhenOff(t *testing.T) {
	s := &Scheduler{}
	if _, err := s.TakeDelta(context.Background()); !errors.Is(err, ErrDeltasOff) {
		t.Fatalf("TakeDelta = %v, want ErrDeltasOff", err)
	}
}
