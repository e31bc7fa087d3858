package gardener

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
)

// fixtureStore opens a copy of a fixture case (testdata/<case>, written by
// gardener's tool under --store-prefix=etcd-main) as a store.
func fixtureStore(t *testing.T, name string) providers.Store {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", name)
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := file.New(filepath.Join(dir, "etcd-main"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		ok   bool
		want Snapshot
	}{
		{key: "v2/Full-00000000-00000005-1795675786.gz", ok: true, want: Snapshot{Kind: KindFull, LastRevision: 5, Compression: ".gz"}},
		{key: "v2/Incr-00000006-00000010-1795675794", ok: true, want: Snapshot{Kind: KindDelta, StartRevision: 6, LastRevision: 10}},
		{key: "v2/Incr-00000003-00000003-1795675890.Z", ok: true, want: Snapshot{Kind: KindDelta, StartRevision: 3, LastRevision: 3, Compression: ".Z"}},
		{key: "v2/Full-00000000-00000009-1795675890.zlib.final", ok: true, want: Snapshot{Kind: KindFull, LastRevision: 9, Compression: ".zlib", Final: true}},
		{key: "v1/Backup-1795675000/Full-00000000-00000009-1795675890", ok: true, want: Snapshot{Kind: KindFull, LastRevision: 9}},
		{key: "Backup-1795675000/Incr-00000010-00000012-1795675890.gz", ok: true, want: Snapshot{Kind: KindDelta, StartRevision: 10, LastRevision: 12, Compression: ".gz"}},
		{key: "v2/Full-00000000-00000005-1795675786/0000000001", ok: false}, // a chunk
		{key: "v2/Incr-00000009-00000005-1795675786", ok: false},            // backwards
		{key: "v2/Part-00000000-00000005-1795675786", ok: false},
		{key: "v2/Full-0000000a-00000005-1795675786", ok: false},
		{key: "v2/Full-00000000-00000005", ok: false},
		{key: "v3/Full-00000000-00000005-1795675786", ok: false},
		{key: "etcdbr-v1/full-0000000000000005-20261126T065000.000Z.json", ok: false},
	}
	for _, c := range cases {
		got, err := ParseKey(c.key)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.key, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if got.Kind != c.want.Kind || got.StartRevision != c.want.StartRevision || got.LastRevision != c.want.LastRevision ||
			got.Compression != c.want.Compression || got.Final != c.want.Final || got.Key != c.key || got.Time.IsZero() {
			t.Errorf("%s: got %+v", c.key, got)
		}
	}
}

func TestLatestChainStopsAtGap(t *testing.T) {
	mk := func(k Kind, a, b int64) Snapshot { return Snapshot{Kind: k, StartRevision: a, LastRevision: b} }
	snaps := []Snapshot{mk(KindFull, 0, 3), mk(KindDelta, 4, 5), mk(KindFull, 0, 9), mk(KindDelta, 10, 12), mk(KindDelta, 13, 13), mk(KindDelta, 15, 20)}
	c, ok := LatestChain(snaps)
	if !ok || c.Full.LastRevision != 9 || len(c.Deltas) != 2 || c.LastRevision() != 13 || len(c.Unreachable) != 1 {
		t.Fatalf("chain %+v", c)
	}
	if _, ok := LatestChain([]Snapshot{mk(KindDelta, 4, 5)}); ok {
		t.Fatal("a chain without a full snapshot")
	}
}

// The fixtures' revision ranges and event counts, as their README lists them.
var fixtureDeltas = map[string][][3]int64{ // start, last, events
	"gzip": {{6, 10, 300}, {11, 14, 13}, {15, 17, 32}, {18, 20, 3}, {21, 24, 5}},
	"none": {{3, 3, 40}, {4, 5, 11}, {6, 8, 14}, {9, 10, 2}, {11, 13, 3}},
	"zlib": {{3, 3, 40}, {4, 5, 11}, {6, 8, 14}, {9, 10, 2}, {11, 13, 3}},
	"lzw":  {{3, 3, 40}, {4, 5, 11}, {6, 8, 14}, {9, 10, 2}, {11, 13, 3}},
}

func TestReadFixtures(t *testing.T) {
	ctx := context.Background()
	for name, deltas := range fixtureDeltas {
		t.Run(name, func(t *testing.T) {
			store := fixtureStore(t, name)
			snaps, err := List(ctx, store)
			if err != nil {
				t.Fatal(err)
			}
			c, ok := LatestChain(snaps)
			if !ok || len(c.Deltas) != len(deltas) || len(c.Unreachable) != 0 {
				t.Fatalf("chain %+v from %d snapshots", c, len(snaps))
			}
			full, err := OpenFull(ctx, store, c.Full)
			if err != nil {
				t.Fatal(err)
			}
			db, err := io.ReadAll(full)
			full.Close()
			if err != nil {
				t.Fatal(err)
			}
			// etcd's trailer: sha256 of the db bytes before it.
			sum := sha256.Sum256(db[:len(db)-32])
			if string(sum[:]) != string(db[len(db)-32:]) {
				t.Fatal("full snapshot trailer does not match its db")
			}
			for i, d := range c.Deltas {
				want := deltas[i]
				if d.StartRevision != want[0] || d.LastRevision != want[1] {
					t.Fatalf("delta %d is %s", i, d)
				}
				evs := readDelta(t, store, d)
				if int64(len(evs)) != want[2] {
					t.Fatalf("%s: %d events, want %d", d, len(evs), want[2])
				}
				if evs[0].Kv.ModRevision != want[0] || evs[len(evs)-1].Kv.ModRevision != want[1] {
					t.Fatalf("%s: events span %d-%d", d, evs[0].Kv.ModRevision, evs[len(evs)-1].Kv.ModRevision)
				}
			}
		})
	}
}

func readDelta(t *testing.T, store providers.Store, s Snapshot) []*mvccpb.Event {
	t.Helper()
	r, err := OpenDelta(context.Background(), store, s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*mvccpb.Event
	for {
		ev, at, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if at.IsZero() {
			t.Fatalf("%s: event without a time", s)
		}
		out = append(out, ev)
	}
}

func TestDamagedDelta(t *testing.T) {
	ctx := context.Background()
	store := fixtureStore(t, "none")
	snaps, err := List(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	var d Snapshot
	for _, s := range snaps {
		if s.Kind == KindDelta && s.StartRevision == 6 {
			d = s
		}
	}
	rc, err := store.Get(ctx, d.Key)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := io.ReadAll(rc)
	rc.Close()
	flip := func(i int) []byte {
		b := append([]byte{}, orig...)
		b[i] ^= 0x20
		return b
	}
	cases := map[string][]byte{
		"bit flip in a value": flip(len(orig) / 2),
		"bit flip in trailer": flip(len(orig) - 3),
		"trailer cut":         orig[:len(orig)-10],
		"json cut":            orig[:len(orig)/2],
		"empty":               {},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if err := store.Put(ctx, d.Key, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			err := drain(ctx, store, d)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func drain(ctx context.Context, store providers.Store, s Snapshot) error {
	r, err := OpenDelta(ctx, store, s)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if _, _, err := r.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
