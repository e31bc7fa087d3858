package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const keyCount = 10000

func fill(t *testing.T, c *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < keyCount; i += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("key/%05d", j), fmt.Sprintf("value-%d", j)))
		}
		if _, err := c.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkAll proves every key is back, at the snapshot's revision.
func checkAll(t *testing.T, c *clientv3.Client, rev int64) {
	t.Helper()
	resp, err := c.Get(context.Background(), "key/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != keyCount {
		t.Fatalf("%d keys back, want %d", len(resp.Kvs), keyCount)
	}
	for i, kv := range resp.Kvs {
		if string(kv.Key) != fmt.Sprintf("key/%05d", i) || string(kv.Value) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("key %d is %q=%q", i, kv.Key, kv.Value)
		}
	}
	if resp.Header.Revision != rev {
		t.Fatalf("restored etcd is at revision %d, the snapshot at %d", resp.Header.Revision, rev)
	}
}

// corruptUsedPage overwrites 4 KiB of random bytes over the in-use bbolt page
// nearest the middle of the db (a free page holds nothing to lose).
func corruptUsedPage(t *testing.T, dbPath string) {
	t.Helper()
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var target int64 = -1
	pageSize := int64(db.Info().PageSize)
	err = db.View(func(tx *bolt.Tx) error {
		pages := tx.Size() / pageSize
		for d := int64(0); d < pages/2 && target < 0; d++ {
			for _, id := range []int64{pages/2 - d, pages/2 + d} {
				if id < 2 || id >= pages {
					continue
				}
				info, err := tx.Page(int(id))
				if err != nil {
					return err
				}
				if info != nil && (info.Type == "leaf" || info.Type == "branch") {
					target = id
					break
				}
			}
		}
		return nil
	})
	db.Close()
	if err != nil || target < 0 {
		t.Fatalf("no in-use page found: %v", err)
	}
	junk := make([]byte, 4096)
	rand.Read(junk)
	f, err := os.OpenFile(dbPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(junk, target*pageSize); err != nil {
		t.Fatal(err)
	}
}

func quarantined(t *testing.T, dataDir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(dataDir + ".quarantine-*")
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestRepairAfterCrash(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		extra      []string
		damage     func(t *testing.T, n *node)
		quarantine bool
	}{
		{"corrupt db", nil, func(t *testing.T, n *node) {
			corruptUsedPage(t, filepath.Join(n.dataDir, "member", "snap", "db"))
		}, true},
		{"data dir deleted", nil, func(t *testing.T, n *node) {
			if err := os.RemoveAll(n.dataDir); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"encrypted store", []string{"--encryption-recipient", id.Recipient().String()}, func(t *testing.T, n *node) {
			corruptUsedPage(t, filepath.Join(n.dataDir, "member", "snap", "db"))
			// Without the identity the restore cannot read the backup: a
			// clear failure, and the damaged dir is left where it was.
			p := start(t, n.args()...)
			if code := p.wait(t, time.Minute); code == 0 {
				t.Fatal("run without the identity file succeeded")
			}
			if !strings.Contains(p.out.String(), "--encryption-identity-file") {
				t.Fatalf("the error does not say what to fix:\n%s", p.out.String())
			}
			if q := quarantined(t, n.dataDir); len(q) != 0 {
				t.Fatalf("a failed restore quarantined the data dir: %v", q)
			}
			n.extra = append(n.extra, "--encryption-identity-file", idFile)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, tc.extra...)
			p := n.start()
			fill(t, n.client())
			m := n.snapshot()
			p.kill9(t)

			tc.damage(t, n)

			p = n.start()
			checkAll(t, n.client(), m.Revision)
			q := quarantined(t, n.dataDir)
			if tc.quarantine != (len(q) == 1) {
				t.Fatalf("quarantined dirs: %v", q)
			}
			if tc.quarantine {
				if _, err := os.Stat(filepath.Join(q[0], "member", "snap", "db")); err != nil {
					t.Fatalf("the quarantined dir lost its db: %v", err)
				}
			}
			if code := p.term(t); code != 0 {
				t.Fatalf("exit code %d after SIGTERM", code)
			}
		})
	}
}
