package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
)

func newFileStore(t *testing.T) (*file.Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// dump reads every key at rev (0: current) with all its metadata.
func dump(t *testing.T, c *clientv3.Client, rev int64) (map[string]*mvccpb.KeyValue, int64) {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithFromKey()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := c.Get(context.Background(), "\x00", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*mvccpb.KeyValue, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv
	}
	return out, resp.Header.Revision
}

func restoreAndOpen(t *testing.T, store providers.Store, m Manifest, enc Encryption) *clientv3.Client {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "restored")
	member := Member{Name: "default", PeerURLs: []string{"http://" + freeAddr(t)}}
	if err := RestoreFull(context.Background(), store, m, enc, member, dataDir, nil); err != nil {
		t.Fatalf("RestoreFull: %v", err)
	}
	_, c := startEtcd(t, dataDir)
	return c
}

// TestFullUnderWriters takes a snapshot while four writers keep writing, and
// checks the restore holds exactly the state at the recorded revision.
func TestFullUnderWriters(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	store, _ := newFileStore(t)
	ctx := context.Background()

	lease, err := c.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; !stop.Load() && i < 200000; i++ {
				k := fmt.Sprintf("w%d/%04d", w, rng.IntN(500))
				var err error
				switch rng.IntN(10) {
				case 0:
					_, err = c.Delete(ctx, k)
				case 1:
					_, err = c.Put(ctx, k, "leased", clientv3.WithLease(lease.ID))
				default:
					_, err = c.Put(ctx, k, strings.Repeat("v", 10+rng.IntN(2000)))
				}
				if err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	for writes.Load() < 2000 {
		time.Sleep(10 * time.Millisecond)
	}
	m, err := TakeFull(ctx, c, store, Encryption{}, time.Now())
	before := writes.Load()
	for writes.Load() < before+500 {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := dump(t, c, m.Revision)
	restored := restoreAndOpen(t, store, m, Encryption{})
	got, rev := dump(t, restored, 0)
	if rev != m.Revision {
		t.Fatalf("restored revision %d, recorded %d", rev, m.Revision)
	}
	if len(got) != len(want) {
		t.Fatalf("restored %d keys, original had %d at revision %d", len(got), len(want), m.Revision)
	}
	for k, w := range want {
		g := got[k]
		if g == nil || !bytes.Equal(g.Value, w.Value) || g.CreateRevision != w.CreateRevision ||
			g.ModRevision != w.ModRevision || g.Version != w.Version || g.Lease != w.Lease {
			t.Fatalf("key %q: restored %v, original %v", k, g, w)
		}
	}
}

func TestFullEncryptedRoundTrip(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	for i := range 300 {
		if _, err := c.Put(context.Background(), key(i), strings.Repeat("x", i)); err != nil {
			t.Fatal(err)
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	store, root := newFileStore(t)
	m, err := TakeFull(context.Background(), c, store, Encryption{Recipients: []age.Recipient{id.Recipient()}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.Encryption != "age" || !strings.HasSuffix(m.Data, ".zst.age") {
		t.Fatalf("manifest %+v does not say it is encrypted", m)
	}
	raw, err := os.ReadFile(filepath.Join(root, m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key(299))) || !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) {
		t.Fatal("stored object is not an age file, or leaks a key in the clear")
	}

	for _, tc := range []struct {
		name string
		enc  Encryption
		want string
	}{
		{"no identity", Encryption{}, "--encryption-identity-file"},
		{"wrong identity", Encryption{Identities: []age.Identity{other}}, "none of the given age identities"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "restored")
			err := RestoreFull(context.Background(), store, m, tc.enc, Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}, dataDir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RestoreFull = %v, want an error mentioning %q", err, tc.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed restore left %s behind", dataDir)
			}
		})
	}
	restored := restoreAndOpen(t, store, m, Encryption{Identities: []age.Identity{id}})
	got, rev := dump(t, restored, 0)
	if len(got) != 300 || rev != m.Revision {
		t.Fatalf("restored %d keys at revision %d, want 300 at %d", len(got), rev, m.Revision)
	}
}

// TestRestoreRejectsDamage flips, truncates and swaps stored bytes: each
// restore fails with ErrCorrupt and writes nothing at the target.
func TestRestoreRejectsDamage(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	for i := range 2000 {
		if _, err := c.Put(context.Background(), key(i), fmt.Sprint(rand.Int64())); err != nil {
			t.Fatal(err)
		}
	}
	store, root := newFileStore(t)
	m, err := TakeFull(context.Background(), c, store, Encryption{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, m.Data)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"bit flip", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
		{"extra bytes", func(b []byte) []byte { return append(b, 0) }},
		{"foreign file", func([]byte) []byte { return []byte("not a backup\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, tc.damage(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(t.TempDir(), "restored")
			err := RestoreFull(context.Background(), store, m, Encryption{}, Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}, dataDir, nil)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), m.Data) {
				t.Fatalf("RestoreFull = %v, want ErrCorrupt naming %s", err, m.Data)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a failed restore left %s behind", dataDir)
			}
		})
	}
}
