package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/lease/leasepb"

	"etcdbrctl/providers"
)

// yearly never fires during a test: full snapshots come only when asked.
const yearly = Schedule("0 0 1 1 *")

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runningScheduler is a Scheduler running its loop until stop is called.
type runningScheduler struct {
	*Scheduler
	reg  *prometheus.Registry
	logs *syncBuffer
	stop func() // ends Run and waits for it
}

func startScheduler(t *testing.T, c *clientv3.Client, store providers.Store, period time.Duration, limit int64) *runningScheduler {
	t.Helper()
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	s := &Scheduler{
		Etcd: c, Store: store, Schedule: yearly, MaxBackups: 5,
		DeltaPeriod: period, DeltaMemoryLimit: limit,
		Metrics: NewMetrics(reg),
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	ctx, cancel := context.WithCancel(context.Background())
	work, abort := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, work)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		abort()
	}
	t.Cleanup(stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", logs.String())
		}
	})
	// Wait for the loop to have its chain.
	deadline := time.Now().Add(30 * time.Second)
	for s.loop.Load() == nil || !s.loop.Load().started() {
		if time.Now().After(deadline) {
			t.Fatal("the delta loop did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &runningScheduler{Scheduler: s, reg: reg, logs: logs, stop: stop}
}

// gauge reads the value of a gauge without labels.
func (s *runningScheduler) gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// chainRecords reads every record of a chain's deltas, checking that they
// follow the full snapshot and each other with no gap or overlap.
func chainRecords(t *testing.T, store providers.Store, ch Chain) []DeltaRecord {
	t.Helper()
	if !ch.HasFull() {
		t.Fatal("chain without a full snapshot")
	}
	if len(ch.Gaps) > 0 {
		t.Fatalf("chain of %s has gaps: %+v", ch.Full.Key, ch.Gaps)
	}
	prev := ch.Full.Revision
	var recs []DeltaRecord
	for _, d := range ch.Deltas {
		if d.FromRevision != prev+1 {
			t.Fatalf("delta %s does not follow revision %d", d.Key, prev)
		}
		m, err := ReadManifest(context.Background(), store, d.Key)
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenDelta(context.Background(), store, m, Encryption{})
		if err != nil {
			t.Fatal(err)
		}
		var first, last int64
		for {
			rec, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", d.Key, err)
			}
			if rec.Event != nil {
				if first == 0 {
					first = rec.Event.Kv.ModRevision
				}
				last = rec.Event.Kv.ModRevision
			}
			recs = append(recs, rec)
		}
		s.Close()
		if first != d.FromRevision || last != d.Revision {
			t.Fatalf("delta %s holds events of revisions %d-%d", d.Key, first, last)
		}
		prev = d.Revision
	}
	return recs
}

// watchHistory returns etcd's events of revisions from..to, read by a watch.
func watchHistory(t *testing.T, c *clientv3.Client, from, to int64) []*mvccpb.Event {
	t.Helper()
	if to < from {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*mvccpb.Event
	for resp := range c.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision > to {
				return out
			}
			out = append(out, (*mvccpb.Event)(ev))
		}
		// A revision is never split across responses.
		if len(out) > 0 && out[len(out)-1].Kv.ModRevision == to {
			return out
		}
	}
	t.Fatalf("watch ended before revision %d", to)
	return nil
}

// sameEvents compares the events of records with etcd's history, byte for
// byte in etcd's own encoding.
func sameEvents(t *testing.T, recs []DeltaRecord, want []*mvccpb.Event) {
	t.Helper()
	var got []*mvccpb.Event
	for _, r := range recs {
		if r.Event != nil {
			got = append(got, r.Event)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("segments hold %d events, etcd's history %d", len(got), len(want))
	}
	for i := range got {
		a, _ := got[i].Marshal()
		b, _ := want[i].Marshal()
		if !bytes.Equal(a, b) {
			t.Fatalf("event %d differs:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

// leasesBeforeUse checks that every event attaching a key to a lease comes
// after a record of that lease, and returns the records by lease ID.
func leasesBeforeUse(t *testing.T, recs []DeltaRecord) map[int64]*leasepb.Lease {
	t.Helper()
	known := map[int64]*leasepb.Lease{}
	for _, r := range recs {
		if r.Lease != nil {
			known[r.Lease.ID] = r.Lease
			continue
		}
		if id := r.Event.Kv.Lease; id != 0 && known[id] == nil {
			t.Fatalf("key %q uses lease %x before any record of it", r.Event.Kv.Key, id)
		}
	}
	return known
}

func latestChains(t *testing.T, store providers.Store) []Chain {
	t.Helper()
	cat, err := ReadCatalog(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	return cat.Chains()
}

// slowStore delays every delta upload, as a store slower than etcd does.
type slowStore struct {
	providers.Store
	delay time.Duration
}

func (s *slowStore) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.Contains(key, "/data/delta-") {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.Put(ctx, key, r)
}
