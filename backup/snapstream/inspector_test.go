package snapstream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// workload puts an etcd into a state; shape checks that the snapshot has the structure
// the workload is meant to produce, so that a case cannot silently stop testing it.
type workload struct {
	name  string
	run   func(ctx context.Context, t *testing.T, cli *clientv3.Client) (compacted int64)
	shape func(t *testing.T, tx *bolt.Tx)
}

func workloads() []workload {
	return []workload{
		{
			name: "empty",
			run:  func(context.Context, *testing.T, *clientv3.Client) int64 { return 0 },
			shape: func(t *testing.T, tx *bolt.Tx) {
				if k, _ := tx.Bucket(schema.Key.Name()).Cursor().First(); k != nil {
					t.Errorf("key bucket holds %x", k)
				}
			},
		},
		{
			name: "few keys, inline buckets",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				putKeys(ctx, t, cli, "k", 3, 10)
				return 0
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				for _, name := range [][]byte{schema.Key.Name(), schema.Meta.Name()} {
					if root := tx.Bucket(name).Root(); root != 0 {
						t.Errorf("bucket %s has root page %d, want inline", name, root)
					}
				}
			},
		},
		{
			name: "thousands of keys, branch pages",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				putKeys(ctx, t, cli, "many/", 5000, 64)
				return 0
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				if s := tx.Bucket(schema.Key.Name()).Stats(); s.BranchPageN == 0 || s.Depth < 2 {
					t.Errorf("key bucket has %d branch pages, depth %d", s.BranchPageN, s.Depth)
				}
			},
		},
		{
			name: "large values, overflow pages",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				putKeys(ctx, t, cli, "small/", 50, 100)
				put(ctx, t, cli, "big/100k", 100<<10)
				put(ctx, t, cli, "big/1m-a", 1<<20)
				putKeys(ctx, t, cli, "small2/", 5, 100)
				put(ctx, t, cli, "big/1m-b", 1<<20) // the last revision lives on an overflow page
				return 0
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				if s := tx.Bucket(schema.Key.Name()).Stats(); s.LeafOverflowN < 256 {
					t.Errorf("key bucket has %d leaf overflow pages", s.LeafOverflowN)
				}
			},
		},
		{
			name: "last event is a delete",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				putKeys(ctx, t, cli, "d/", 20, 10)
				if _, err := cli.Delete(ctx, "d/", clientv3.WithPrefix()); err != nil {
					t.Fatal(err)
				}
				return 0
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				if k, _ := tx.Bucket(schema.Key.Name()).Cursor().Last(); !mvcc.IsTombstone(k) {
					t.Errorf("last key %x is not a tombstone", k)
				}
			},
		},
		{
			// etcd keeps a tombstone at the compaction revision, so the key bucket still
			// ends at it; the synthetic tests cover a key bucket ending below it.
			name: "compacted at a delete",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				putKeys(ctx, t, cli, "c/", 10, 10)
				for i := 5; i < 10; i++ {
					if _, err := cli.Delete(ctx, fmt.Sprintf("c/%05d", i)); err != nil {
						t.Fatal(err)
					}
				}
				return compact(ctx, t, cli)
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				keys := tx.Bucket(schema.Key.Name())
				k, _ := keys.Cursor().Last()
				finished := mvcc.BytesToRev(tx.Bucket(schema.Meta.Name()).Get(schema.FinishedCompactKeyName)).Main
				if last := mvcc.BytesToRev(k).Main; last != finished || !mvcc.IsTombstone(k) {
					t.Errorf("last key %x, finished compaction %d: want a tombstone at it", k, finished)
				}
				if n := keys.Stats().KeyN; n != 5+1 {
					t.Errorf("key bucket holds %d keys, want the 5 live ones and the last tombstone", n)
				}
			},
		},
		{
			name: "overwrites, freed pages",
			run: func(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
				for range 20 {
					putKeys(ctx, t, cli, "o/", 100, 1000)
				}
				rev := compact(ctx, t, cli)
				putKeys(ctx, t, cli, "after/", 3, 10)
				return rev
			},
			shape: func(t *testing.T, tx *bolt.Tx) {
				if free := tx.DB().Stats().FreePageN; free == 0 {
					t.Error("no free pages in the snapshot")
				}
			},
		},
	}
}

func TestInspectorMatchesEtcd(t *testing.T) {
	for _, w := range workloads() {
		t.Run(w.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cli := startEtcd(t)
			compacted := w.run(ctx, t, cli)
			want := currentRevision(ctx, t, cli)

			info, stream := streamSnapshot(ctx, t, cli)
			withBolt(t, stream, func(tx *bolt.Tx) { w.shape(t, tx) })
			if info.Revision != want {
				t.Errorf("Revision %d, server is at %d", info.Revision, want)
			}
			if info.CompactRevision != compacted {
				t.Errorf("CompactRevision %d, compacted at %d", info.CompactRevision, compacted)
			}
			checkStream(t, info, stream)

			// The same stream in odd pieces, with overflow pages captured piecewise (0),
			// buffered when up to 1 MiB (the default), and always buffered.
			for _, maxSpan := range []uint64{0, maxBufferedSpan, 1 << 30} {
				for _, chunk := range []int{1, 7, 4096, 65537} {
					if chunk == 1 && (maxSpan != maxBufferedSpan || testing.Short()) {
						continue
					}
					got, err := inspect(stream, chunk, maxSpan)
					if err != nil || got != info {
						t.Errorf("maxSpan %d, chunks of %d: %+v, %v; want %+v", maxSpan, chunk, got, err, info)
					}
				}
			}
		})
	}
}

// TestInspectorUnderConcurrentWrites takes a snapshot while writers are busy: the revision
// must be that of the data in the snapshot, never a later one.
func TestInspectorUnderConcurrentWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cli := startEtcd(t)
	putKeys(ctx, t, cli, "seed/", 500, 200)

	stop := make(chan struct{})
	started := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			value := strings.Repeat("v", 300)
			for i := 0; ; i++ {
				if _, err := cli.Put(ctx, fmt.Sprintf("w%d/%d", w, i%200), value); err != nil {
					errs <- err
					return
				}
				if i == 20 {
					started <- struct{}{}
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	for range 4 {
		<-started
	}
	before := currentRevision(ctx, t, cli)
	info, stream := streamSnapshot(ctx, t, cli)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	after := currentRevision(ctx, t, cli)

	checkStream(t, info, stream)
	if info.Revision < before || info.Revision > after {
		t.Errorf("Revision %d outside [%d, %d]", info.Revision, before, after)
	}
	if after == before {
		t.Error("no writes happened during the snapshot")
	}
}

func put(ctx context.Context, t *testing.T, cli *clientv3.Client, key string, size int) {
	t.Helper()
	if _, err := cli.Put(ctx, key, strings.Repeat("x", size)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// putKeys writes n keys prefix%05d with values of the given size, 100 keys per transaction.
func putKeys(ctx context.Context, t *testing.T, cli *clientv3.Client, prefix string, n, size int) {
	t.Helper()
	value := strings.Repeat("v", size)
	for start := 0; start < n; start += 100 {
		var ops []clientv3.Op
		for i := start; i < min(n, start+100); i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%05d", prefix, i), value))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatalf("txn: %v", err)
		}
	}
}

// compact compacts at the current revision and waits until it is done on disk.
func compact(ctx context.Context, t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	rev := currentRevision(ctx, t, cli)
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	return rev
}
