package gardener

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
	"etcdbrctl/internal/etcdtest"
)

// phase is a state the fixture README documents: the revision, the number
// of keys and the hash of its dump with leases zeroed (gardener backups do
// not record leases, so keys come back without them, as with gardener's
// own restore).
type phase struct {
	rev  int64
	keys int
	hash string
}

var smallPhases = []phase{
	{2, 40, "c3d690cdb339be7381cbea9c94f8905331a3f661c5dabc66ed9fc158e3307b10"},
	{3, 80, "21a4f754b868f40d3f449dd12d335c94adad30b053ecc3b75778996df2baf73f"},
	{5, 69, "5fc0f83d180223a147e13367e6157102f2dfc46d413ecefa30cee1a4f5b4df64"},
	{8, 74, "60a6d13eace7699cbc5d59d9d2cd9e1f0158079473f610134b8550a21ab1adec"},
	{10, 75, "f2dc29ad0c6bd18d6b3c87662b40471159b6df2f38d586839353e259f1700486"},
	{13, 76, "b922c1b0ff2850558282d4bf18432d757478ca7ebeff8f766c1e7c6cf2464387"},
}

var fixturePhases = map[string][]phase{
	"gzip": {
		{5, 200, "7c744c79a6d8252dcd9a77a1be64283b4e96fa260a5f9aeb809d789a0574f017"},
		{10, 500, "ec002001e6959313f2bc553bd92fd7debf50d5997e4ebddb1367e87141a45193"},
		{14, 487, "cf9be8811a902b9f04dc1230b105a44cdc79d2e80e081398e11fce79dbb31b75"},
		{17, 501, "f7cd87bf5e305be4fb84ebfcad5741ea5836a7496b45451f08edf73a64dee851"},
		{20, 503, "86e080ec7a26da5d75b424674122973a1fa1ca267366c704866728778b9dd3bc"},
		{24, 504, "ba4bfa580304724072d3f31edea5176f2f9df7f2749ec940724959409b48fa34"},
	},
	"none": smallPhases,
	"zlib": smallPhases,
	"lzw":  smallPhases,
}

// TestRestoreFixtures restores every documented phase of every fixture
// with etcdbrctl's restore, starts etcd on it, and compares its dump with
// the README's hash.
func TestRestoreFixtures(t *testing.T) {
	ctx := context.Background()
	for name, phases := range fixturePhases {
		t.Run(name, func(t *testing.T) {
			store := fixtureStore(t, name)
			if testing.Short() {
				phases = phases[len(phases)-1:]
			}
			for i, ph := range phases {
				target := backup.Target{Revision: ph.rev}
				if i == len(phases)-1 {
					target = backup.Target{} // the latest
				}
				p, err := PlanRestore(ctx, store, target)
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "etcd")
				opts := backup.RestoreOptions{Member: backup.Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}}
				res, err := backup.Restore(ctx, store, p, opts, dir)
				if err != nil {
					t.Fatalf("restore to %d: %v", ph.rev, err)
				}
				if res.Revision != ph.rev {
					t.Fatalf("restored revision %d, want %d", res.Revision, ph.rev)
				}
				e, c := etcdtest.Start(t, dir)
				rev, keys, hash := dump(t, c)
				c.Close()
				e.Close()
				if rev != ph.rev || keys != ph.keys || hash != ph.hash {
					t.Errorf("phase at %d: revision %d, %d keys, hash %s; want %d keys, hash %s", ph.rev, rev, keys, hash, ph.keys, ph.hash)
				}
			}
		})
	}
}

// dump hashes every key as the fixture README describes.
func dump(t *testing.T, c *clientv3.Client) (rev int64, keys int, hash string) {
	t.Helper()
	resp, err := c.Get(context.Background(), "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, kv := range resp.Kvs {
		fmt.Fprintf(h, "%q %q %d %d %d %d\n", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
	}
	return resp.Header.Revision, len(resp.Kvs), hex.EncodeToString(h.Sum(nil))
}

func TestPlanRestoreTargets(t *testing.T) {
	ctx := context.Background()
	store := fixtureStore(t, "gzip")
	p, err := PlanRestore(ctx, store, backup.Target{Revision: 15})
	if err != nil || p.Revision != 15 || len(p.Deltas) != 3 || p.Full.Revision != 5 {
		t.Fatalf("plan to 15: %+v, %v", p, err)
	}
	if _, err := PlanRestore(ctx, store, backup.Target{Revision: 25}); err == nil {
		t.Fatal("a revision past every backup was planned")
	}
	if _, err := PlanRestore(ctx, store, backup.Target{Revision: 4}); err == nil {
		t.Fatal("a revision before the full snapshot was planned")
	}
	full, _ := ParseKey("v2/Full-00000000-00000005-1795675786.gz")
	p, err = PlanRestore(ctx, store, backup.Target{Time: full.Time})
	if err != nil || p.Revision != 5 || len(p.Deltas) != 0 {
		t.Fatalf("plan to the full snapshot's time: %+v, %v", p, err)
	}
}
