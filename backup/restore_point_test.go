package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/providers"
)

func exactnessWorkload() workload {
	if testing.Short() {
		return workload{seed: 6, ops: 240, keys: 60, segments: 4, probes: 3}
	}
	return workload{seed: 6, ops: 900, keys: 150, segments: 8, probes: 10}
}

// TestRestoreToRevisionIsExact restores random revisions of a recorded
// history and compares every key with what the original member returned
// at that revision.
func TestRestoreToRevisionIsExact(t *testing.T) {
	h := recordHistory(t, exactnessWorkload(), Encryption{})
	revs := append(slices.Clone(h.probes), h.full.Revision, h.last)
	for _, rev := range revs {
		h.checkRestore(t, Target{Revision: rev}, rev)
	}
}

// TestRestoreToTime restores the points --to-time can name exactly: the
// ends of the segments and of the full snapshot.
func TestRestoreToTime(t *testing.T) {
	h := recordHistory(t, workload{seed: 8, ops: 160, keys: 40, segments: 4, probes: 0}, Encryption{})
	if len(h.segments) < 3 {
		t.Fatalf("want at least 3 segments, have %d", len(h.segments))
	}
	cases := []struct {
		at   time.Time
		want int64
	}{
		{h.full.Finished, h.full.Revision},
		{h.segments[1].Finished, h.segments[1].Revision},
		// Only its first change is known to precede its time.
		{h.segments[2].Time, h.segments[2].FromRevision},
		{h.segments[len(h.segments)-1].Finished.Add(time.Hour), h.last},
	}
	for _, tc := range cases {
		h.checkRestore(t, Target{Time: tc.at}, tc.want)
	}
	_, err := PlanRestore(context.Background(), h.store, Target{Time: h.full.Time.Add(-time.Second)})
	if !errors.Is(err, ErrNotCovered) {
		t.Fatalf("a time before every backup: %v, want ErrNotCovered", err)
	}
}

func (h *history) checkRestore(t *testing.T, target Target, want int64) {
	t.Helper()
	ctx := context.Background()
	plan, err := PlanRestore(ctx, h.store, target)
	if err != nil {
		t.Fatalf("plan %s: %v", target, err)
	}
	if plan.Revision != want {
		t.Fatalf("plan %s ends at revision %d, want %d", target, plan.Revision, want)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	member := Member{Name: "default", PeerURLs: []string{"http://" + freeAddr(t)}}
	res, err := Restore(ctx, h.store, plan, RestoreOptions{Encryption: h.enc, Member: member, MaxFetchers: 2}, dir)
	if err != nil {
		t.Fatalf("restore %s: %v", target, err)
	}
	if res.Revision != want {
		t.Fatalf("restored revision %d, want %d", res.Revision, want)
	}
	e, c := etcdtest.Start(t, dir)
	defer etcdtest.Stop(e)
	got, rev := dump(t, c, 0)
	if rev != want {
		t.Fatalf("%s: restored member is at revision %d, want %d", target, rev, want)
	}
	if diff := sameState(h.states[want], got); diff != "" {
		t.Fatalf("%s: restored state differs from the original at revision %d:\n%s", target, want, diff)
	}
	checkLeases(t, c, got)
}

// checkLeases: every key attached to a lease finds it alive after restore.
func checkLeases(t *testing.T, c *clientv3.Client, state map[string]*mvccpb.KeyValue) {
	t.Helper()
	attached := map[int64][]string{}
	for k, kv := range state {
		if kv.Lease != 0 {
			attached[kv.Lease] = append(attached[kv.Lease], k)
		}
	}
	for id, keys := range attached {
		resp, err := c.TimeToLive(context.Background(), clientv3.LeaseID(id), clientv3.WithAttachedKeys())
		if err != nil {
			t.Fatal(err)
		}
		if resp.TTL <= 0 {
			t.Fatalf("lease %x of keys %v is gone after restore", id, keys)
		}
		var have []string
		for _, k := range resp.Keys {
			have = append(have, string(k))
		}
		slices.Sort(have)
		slices.Sort(keys)
		if !slices.Equal(have, keys) {
			t.Fatalf("lease %x: attached keys %v, want %v", id, have, keys)
		}
	}
}

// TestRestoreRefusesDamagedDelta: a flipped bit, a truncated object or a
// wrong key stops the restore with an error naming the object, and the
// target is left as it was.
func TestRestoreRefusesDamagedDelta(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc := Encryption{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}
	small := workload{seed: 3, ops: 80, keys: 30, segments: 4}
	cases := []struct {
		name   string
		enc    Encryption
		damage func(t *testing.T, path string)
	}{
		{"bit flip", Encryption{}, flipBit},
		{"bit flip, encrypted", enc, flipBit},
		{"truncated", Encryption{}, truncateHalf},
		{"wrong key", Encryption{Identities: []age.Identity{other}}, func(*testing.T, string) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			writeEnc := Encryption{}
			if tc.enc.Identities != nil {
				writeEnc = enc
			}
			h := recordHistory(t, small, writeEnc)
			victim := h.segments[1]
			tc.damage(t, filepath.Join(h.root, filepath.FromSlash(victim.Data)))
			plan, err := PlanRestore(context.Background(), h.store, Target{})
			if err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			dir := filepath.Join(parent, "restored")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			member := Member{Name: "default", PeerURLs: []string{"http://" + freeAddr(t)}}
			_, err = Restore(context.Background(), h.store, plan, RestoreOptions{Encryption: tc.enc, Member: member}, dir)
			if err == nil {
				t.Fatal("restore of a damaged backup succeeded")
			}
			named := victim.Data
			if tc.name == "wrong key" {
				named = h.full.Data // the first object read
			}
			if !strings.Contains(err.Error(), named) {
				t.Fatalf("error %q does not name %s", err, named)
			}
			if tc.name != "wrong key" && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %q is not ErrCorrupt", err)
			}
			assertUntouched(t, parent, dir)
		})
	}
}

// assertUntouched: dir is still the empty directory it was, and nothing
// else was left beside it.
func assertUntouched(t *testing.T, parent, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("target after a failed restore: %v entries, err %v", len(entries), err)
	}
	left, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Fatalf("left beside the target: %v", names)
	}
}

func flipBit(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t *testing.T, path string) {
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, info.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreCancelled: a restore stopped half-way leaves nothing under
// the target's name and no staging directory beside it.
func TestRestoreCancelled(t *testing.T) {
	h := recordHistory(t, workload{seed: 4, ops: 80, keys: 30, segments: 4}, Encryption{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := cancelOnGet{Store: h.store, key: h.segments[len(h.segments)-1].Data, cancel: cancel}
	plan, err := PlanRestore(ctx, store, Target{})
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "restored")
	member := Member{Name: "default", PeerURLs: []string{"http://" + freeAddr(t)}}
	_, err = Restore(ctx, store, plan, RestoreOptions{Member: member, MaxFetchers: 1}, dir)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("restore = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target after a cancelled restore: %v", err)
	}
	if left, _ := os.ReadDir(parent); len(left) != 0 {
		t.Fatalf("left beside the target: %v", left)
	}
}

// cancelOnGet stops the restore when it starts reading one object.
type cancelOnGet struct {
	providers.Store
	key    string
	cancel context.CancelFunc
}

func (c cancelOnGet) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == c.key {
		c.cancel()
	}
	return c.Store.Get(ctx, key)
}
