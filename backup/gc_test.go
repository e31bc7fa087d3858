package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/providers"
)

// TestGCKeepsNewest takes real snapshots, then checks that GC keeps exactly
// the newest ones, removes old data with its manifest, spares an object
// still being written, and removes stale uncommitted data.
func TestGCKeepsNewest(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, root := newFileStore(t)
	ctx := context.Background()
	taken := takeFulls(t, c, store, 5)

	// An upload in flight: half written when GC runs.
	pr, pw := io.Pipe()
	putDone := make(chan error, 1)
	inFlight := Root + "/data/full-in-flight.zst"
	go func() { putDone <- store.Put(ctx, inFlight, pr) }()
	if _, err := pw.Write([]byte(strings.Repeat("x", 1<<16))); err != nil {
		t.Fatal(err)
	}
	// A stale orphan, as an interrupted commit leaves it.
	orphan := Root + "/data/full-20200101T000000.000Z-deadbeef.zst"
	if err := store.Put(ctx, orphan, strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * OrphanGrace)
	if err := os.Chtimes(filepath.Join(root, orphan), old, old); err != nil {
		t.Fatal(err)
	}
	// A fresh orphan: maybe a backup being committed right now.
	fresh := Root + "/data/full-20991231T000000.000Z-cafef00d.zst"
	if err := store.Put(ctx, fresh, strings.NewReader("fresh")); err != nil {
		t.Fatal(err)
	}

	cat, err := ReadCatalog(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cat.Data {
		if o.Key == inFlight {
			t.Fatal("an object still being written is listed")
		}
	}

	res, err := CollectGarbage(ctx, store, GCPolicy{Kind: LimitBased, MaxBackups: 3}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Backups) != 2 || len(res.Orphans) != 1 || res.Orphans[0] != orphan {
		t.Fatalf("GC removed %d backups and orphans %v; want 2 backups and %s", len(res.Backups), res.Orphans, orphan)
	}
	cat, err = ReadCatalog(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	fulls := cat.Fulls()
	if len(fulls) != 3 {
		t.Fatalf("%d full snapshots left, want 3", len(fulls))
	}
	for i, e := range fulls {
		if want := taken[2+i].Name().String(); e.Key != want {
			t.Errorf("kept %s, want %s", e.Key, want)
		}
	}
	for _, m := range taken[:2] {
		if _, err := os.Stat(filepath.Join(root, m.Data)); !os.IsNotExist(err) {
			t.Errorf("data of removed backup %s is still there", m.Data)
		}
	}
	for _, m := range taken[2:] {
		if _, err := os.Stat(filepath.Join(root, m.Data)); err != nil {
			t.Errorf("data of kept backup: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, fresh)); err != nil {
		t.Errorf("fresh uncommitted data was removed: %v", err)
	}

	pw.Close()
	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, inFlight)); err != nil {
		t.Errorf("the upload in flight did not survive GC: %v", err)
	}
	if _, err := CollectGarbage(ctx, store, GCPolicy{Kind: LimitBased, MaxBackups: 0}, time.Now()); err == nil {
		t.Error("GC keeping 0 backups was accepted")
	}
}

// TestGCWithUnreadableManifest: a manifest that cannot be read keeps its
// backup and every unreferenced data object; the rest is still collected.
func TestGCWithUnreadableManifest(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, root := newFileStore(t)
	ctx := context.Background()
	taken := takeFulls(t, c, store, 4)
	broken := taken[1].Name().String()
	if err := os.WriteFile(filepath.Join(root, broken), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * OrphanGrace)
	for _, m := range taken {
		os.Chtimes(filepath.Join(root, m.Data), old, old)
	}

	res, err := CollectGarbage(ctx, store, GCPolicy{Kind: LimitBased, MaxBackups: 1}, time.Now())
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("GC error = %v, want one naming %s", err, broken)
	}
	if len(res.Backups) != 2 || len(res.Orphans) != 0 {
		t.Fatalf("GC removed %d backups and orphans %v; want the 2 readable old ones and no orphan", len(res.Backups), res.Orphans)
	}
	for _, keep := range []string{broken, taken[1].Data, taken[3].Name().String(), taken[3].Data} {
		if _, err := os.Stat(filepath.Join(root, keep)); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
}

// takeFulls takes n full snapshots, each after one more write, so every one
// has a revision of its own.
func takeFulls(t *testing.T, c *clientv3.Client, store providers.Store, n int) []Manifest {
	t.Helper()
	var taken []Manifest
	for i := range n {
		if _, err := c.Put(context.Background(), key(i), "v"); err != nil {
			t.Fatal(err)
		}
		m, err := TakeFull(context.Background(), c, store, Encryption{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, m)
	}
	return taken
}

// leftoverStore is a file store that also reports when GC asks it to remove
// the leftovers of interrupted uploads.
type leftoverStore struct {
	providers.Store
	asked []time.Time
}

func (s *leftoverStore) RemoveLeftovers(_ context.Context, olderThan time.Time) (int, error) {
	s.asked = append(s.asked, olderThan)
	return 2, nil
}

// TestGCRemovesWholeChains: on a real store, an old chain goes whole (its
// deltas, then its full snapshot, each manifest with its data), the newest
// chain stays whole, and the store's leftovers are collected with the grace.
func TestGCRemovesWholeChains(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	fs, root := newFileStore(t)
	store := &leftoverStore{Store: fs}
	ctx := context.Background()
	start := time.Now().Add(-3 * time.Hour)
	var old, kept []Manifest
	for chain := range 2 {
		if _, err := c.Put(ctx, key(chain), "v"); err != nil {
			t.Fatal(err)
		}
		t0 := start.Add(time.Duration(chain) * time.Hour)
		full, err := TakeFull(ctx, c, store, Encryption{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		ms := []Manifest{full}
		for i := range 2 {
			from := full.Revision + 1 + int64(i)*10
			m, err := WriteDelta(ctx, store, Encryption{}, from, from+9, t0.Add(time.Duration(i+1)*time.Minute), func(w *DeltaWriter) error {
				return w.Event(&mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("k"), ModRevision: from}})
			})
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		if chain == 0 {
			old = ms
		} else {
			kept = ms
		}
	}
	now := time.Now()
	res, err := CollectGarbage(ctx, store, GCPolicy{Kind: LimitBased, MaxBackups: 1, DeltaRetention: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := short(res.Backups); got != fmt.Sprintf("D%d-%d D%d-%d F%d", old[2].FromRevision, old[2].Revision, old[1].FromRevision, old[1].Revision, old[0].Revision) {
		t.Fatalf("removed %s", got)
	}
	for _, m := range old {
		for _, k := range []string{m.Name().String(), m.Data} {
			if _, err := os.Stat(filepath.Join(root, k)); !os.IsNotExist(err) {
				t.Errorf("%s of a removed chain is still there", k)
			}
		}
	}
	for _, m := range kept {
		for _, k := range []string{m.Name().String(), m.Data} {
			if _, err := os.Stat(filepath.Join(root, k)); err != nil {
				t.Errorf("the newest chain lost %s: %v", k, err)
			}
		}
	}
	if len(store.asked) != 1 || !store.asked[0].Equal(now.Add(-OrphanGrace)) || res.Leftovers != 2 {
		t.Fatalf("leftover removal asked %v, reported %d", store.asked, res.Leftovers)
	}
}
