package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
)

// matrixFixture is what every case of the corruption matrix starts from:
// data dirs written by a real etcd, and a store with a backup taken before
// any damage.
type matrixFixture struct {
	golden    string // ahead of the backup: valid
	behind    string // a copy of golden from before the backup
	foreign   string // a member of another cluster, with its owner marker
	store     providers.Store
	backup    backup.Manifest
	goldRev   int64
	behindRev int64
	expect    datadir.Expectation
	member    backup.Member
	peerURL   string
	snapFile  string // newest raft snap file in golden, relative to it
}

const matrixToken = "etcd-cluster"

func newMatrixFixture(t *testing.T) matrixFixture {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	fx := matrixFixture{
		golden:  filepath.Join(root, "golden"),
		behind:  filepath.Join(root, "behind"),
		foreign: filepath.Join(root, "foreign"),
		peerURL: "http://" + etcdtest.FreeAddr(t),
	}
	fx.expect = datadir.Expectation{Name: "default", InitialCluster: "default=" + fx.peerURL, InitialClusterToken: matrixToken}
	fx.member = backup.Member{Name: "default", PeerURLs: []string{fx.peerURL},
		InitialCluster: fx.expect.InitialCluster, InitialClusterToken: matrixToken}
	var err error
	if fx.store, err = file.New(filepath.Join(root, "store")); err != nil {
		t.Fatal(err)
	}
	// A small snapshot count makes etcd write raft snap files.
	configure := func(token string) func(*embed.Config) {
		return func(cfg *embed.Config) {
			cfg.SnapshotCount = 100
			cfg.InitialClusterToken = token
			u := cfg.ListenPeerUrls[0]
			if token == matrixToken {
				u.Host = fx.peerURL[len("http://"):]
			}
			cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{u}, []url.URL{u}
			cfg.InitialCluster = cfg.Name + "=" + u.String()
		}
	}

	e, c := etcdtest.StartWith(t, fx.golden, configure(matrixToken))
	fx.behindRev = putMany(t, c, "a/", 300, 10)
	etcdtest.Stop(e)
	copyDir(t, fx.golden, fx.behind)

	e, c = etcdtest.StartWith(t, fx.golden, configure(matrixToken))
	putMany(t, c, "b/", 10, 10)
	if fx.backup, err = backup.TakeFull(ctx, c, fx.store, backup.Encryption{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fx.goldRev = putMany(t, c, "c/", 10, 10)
	etcdtest.Stop(e)

	snaps, _ := filepath.Glob(filepath.Join(fx.golden, "member", "snap", "*.snap"))
	if len(snaps) == 0 {
		t.Fatal("etcd wrote no snap file; the snap case needs one")
	}
	sort.Strings(snaps)
	fx.snapFile, _ = filepath.Rel(fx.golden, snaps[len(snaps)-1])

	e, c = etcdtest.StartWith(t, fx.foreign, configure("another-cluster"))
	putMany(t, c, "x/", 5, 10)
	etcdtest.Stop(e)
	if _, err := datadir.RecordOwner(fx.foreign, "default"); err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestCorruptionMatrix damages copies of a real etcd's data dir in each way
// the matrix names, and checks that the right mode finds it, that a dry run
// changes nothing, and that Initialize repairs it from the backup, or
// refuses a wrong volume without touching it.
func TestCorruptionMatrix(t *testing.T) {
	fx := newMatrixFixture(t)
	ctx := context.Background()
	db := filepath.Join("member", "snap", "db")

	type verdict struct {
		state datadir.State
		code  datadir.Code
	}
	valid := verdict{datadir.Valid, ""}
	const (
		kept     = ActionKept
		restored = ActionRestored
		refused  = ActionRefused
	)
	cases := []struct {
		name         string
		prepare      func(t *testing.T, dir string) // from a copy of golden
		sanity, full verdict
		outcome      Action
	}{
		{"valid, ahead of the backup", nil, valid, valid, kept},
		{"bit flip in a branch page", func(t *testing.T, dir string) {
			b := readBolt(t, filepath.Join(dir, db))
			id := b.leftmost(t, b.bucketRoot(t, "key"), branchFlag)
			// A high bit of the page header's id: the page now claims to
			// lie far beyond the end of the file.
			flipBit(t, filepath.Join(dir, db), int64(id)*int64(b.pageSize)+5, 0)
		}, valid, verdict{datadir.Invalid, datadir.CodeDB}, restored},
		{"bit flip in a leaf page", func(t *testing.T, dir string) {
			b := readBolt(t, filepath.Join(dir, db))
			id := b.leftmost(t, b.bucketRoot(t, "key"), leafFlag)
			flipBit(t, filepath.Join(dir, db), int64(id)*int64(b.pageSize)+5, 0)
		}, valid, verdict{datadir.Invalid, datadir.CodeDB}, restored},
		{"bit flip in a meta page", func(t *testing.T, dir string) {
			b := readBolt(t, filepath.Join(dir, db))
			// The root bucket's page number in the newer meta page: bbolt
			// falls back to the older one, so only the full check sees it.
			off := int64(b.activeMeta())*int64(b.pageSize) + metaRootOffset
			flipBit(t, filepath.Join(dir, db), off, 2)
		}, valid, verdict{datadir.Invalid, datadir.CodeDB}, restored},
		{"db truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, db)
			truncateTo(t, p, fileSize(t, p)/2)
		}, verdict{datadir.Invalid, datadir.CodeDB}, verdict{datadir.Invalid, datadir.CodeDB}, restored},
		{"db empty", func(t *testing.T, dir string) { truncateTo(t, filepath.Join(dir, db), 0) },
			verdict{datadir.Invalid, datadir.CodeLayout}, verdict{datadir.Invalid, datadir.CodeLayout}, restored},
		{"db missing", func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, db)) },
			verdict{datadir.Invalid, datadir.CodeLayout}, verdict{datadir.Invalid, datadir.CodeLayout}, restored},
		{"WAL file truncated mid-record away from the tail", func(t *testing.T, dir string) {
			truncateWALMidRecord(t, dir)
		}, valid, verdict{datadir.Invalid, datadir.CodeIndex}, restored},
		{"WAL missing", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "member", "wal")); err != nil {
				t.Fatal(err)
			}
		}, verdict{datadir.Invalid, datadir.CodeLayout}, verdict{datadir.Invalid, datadir.CodeLayout}, restored},
		{"snap file corrupt", func(t *testing.T, dir string) {
			p := filepath.Join(dir, fx.snapFile)
			flipBit(t, p, fileSize(t, p)/2, 4)
		}, valid, verdict{datadir.Invalid, datadir.CodeSnap}, restored},
		{"member dir of another cluster, with its marker", func(t *testing.T, dir string) {
			mustRemoveAll(t, dir)
			copyDir(t, fx.foreign, dir)
		}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, refused},
		{"member dir of another cluster, no marker", func(t *testing.T, dir string) {
			mustRemoveAll(t, dir)
			copyDir(t, fx.foreign, dir)
			mustRemove(t, filepath.Join(dir, ".etcdbrctl-owner.json"))
		}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, refused},
		{"marker of another member", func(t *testing.T, dir string) {
			o, err := datadir.RecordOwner(dir, "default")
			if err != nil {
				t.Fatal(err)
			}
			o.Name = "member-2"
			if err := datadir.WriteOwner(dir, o); err != nil {
				t.Fatal(err)
			}
		}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, verdict{datadir.Foreign, datadir.CodeWrongVolume}, refused},
		{"behind the newest backup", func(t *testing.T, dir string) {
			mustRemoveAll(t, dir)
			copyDir(t, fx.behind, dir)
		}, verdict{datadir.Invalid, datadir.CodeBehind}, verdict{datadir.Invalid, datadir.CodeBehind}, restored},
		{"restored to an older point after the newest backup", func(t *testing.T, dir string) {
			mustRemoveAll(t, dir)
			copyDir(t, fx.behind, dir)
			if _, err := datadir.RecordRestore(dir, "default", fx.behindRev, time.Now()); err != nil {
				t.Fatal(err)
			}
		}, valid, valid, kept},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etcd")
			copyDir(t, fx.golden, dir)
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			before := treeListing(t, dir)
			// What a restore killed earlier left beside the dir.
			leftover := filepath.Join(filepath.Dir(dir), ".etcd.staging-1")
			if err := os.MkdirAll(filepath.Join(leftover, "data"), 0o700); err != nil {
				t.Fatal(err)
			}
			r := Restorer{Store: fx.store, Member: fx.member, Expect: fx.expect, Log: testLogger()}

			for mode, want := range map[datadir.Mode]verdict{datadir.Sanity: tc.sanity, datadir.Full: tc.full} {
				res, err := r.Initialize(ctx, dir, mode, true)
				t.Logf("%v: %s %s %q", mode, res.Report.State, res.Report.Code, res.Report.Reason)
				if got := (verdict{res.Report.State, res.Report.Code}); got != want {
					t.Errorf("%v: got %v (%q), want %v", mode, got, res.Report.Reason, want)
				}
				wantErr := want.state == datadir.Foreign
				if wantErr != errors.Is(err, ErrWrongVolume) || (!wantErr && err != nil) {
					t.Errorf("%v: dry run error %v", mode, err)
				}
				if after := treeListing(t, dir); !reflect.DeepEqual(before, after) {
					t.Fatalf("%v: a dry run changed the dir", mode)
				}
			}

			if _, err := os.Stat(leftover); err != nil {
				t.Fatalf("a dry run removed the leftover staging dir: %v", err)
			}
			res, err := r.Initialize(ctx, dir, datadir.Full, false)
			if res.Action != tc.outcome {
				t.Fatalf("Initialize: action %s (%v), want %s", res.Action, err, tc.outcome)
			}
			// A refused dir is left alone, with what lies beside it.
			if _, err := os.Stat(leftover); (err == nil) != (tc.outcome == refused) {
				t.Errorf("leftover staging dir after %s: %v", tc.outcome, err)
			}
			quarantined, _ := filepath.Glob(dir + ".quarantine-*")
			switch tc.outcome {
			case refused:
				if !errors.Is(err, ErrWrongVolume) {
					t.Fatalf("Initialize = %v, want ErrWrongVolume", err)
				}
				if after := treeListing(t, dir); !reflect.DeepEqual(before, after) || len(quarantined) != 0 {
					t.Fatalf("a refused dir was changed or quarantined (%v)", quarantined)
				}
				return
			case kept:
				if err != nil || len(quarantined) != 0 {
					t.Fatalf("Initialize = %v, quarantined %v", err, quarantined)
				}
				if !reflect.DeepEqual(before, treeListingWithoutOwner(t, dir, before)) {
					t.Fatal("a kept dir was changed")
				}
				checkDir(ctx, t, dir, res.Report.Revision)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(quarantined) != 1 || !reflect.DeepEqual(before, treeListing(t, quarantined[0])) {
				t.Fatalf("the damaged dir was not quarantined as it was: %v", quarantined)
			}
			checkDir(ctx, t, dir, fx.backup.Revision)
			if o, ok, err := datadir.ReadOwner(dir); err != nil || !ok || o.Name != "default" {
				t.Fatalf("restored dir's owner marker: %+v %v %v", o, ok, err)
			}
			// The restored dir passes the checks that sent it to repair.
			again, err := r.Initialize(ctx, dir, datadir.Full, false)
			if err != nil || again.Action != kept {
				t.Fatalf("after the repair: %s, %v", again.Action, err)
			}
		})
	}
}

// treeListingWithoutOwner lists dir, leaving out the owner marker unless
// before has it: keeping a dir records its owner and changes nothing else.
func treeListingWithoutOwner(t *testing.T, dir string, before map[string]string) map[string]string {
	l := treeListing(t, dir)
	if _, ok := before[".etcdbrctl-owner.json"]; !ok {
		delete(l, ".etcdbrctl-owner.json")
	}
	return l
}

// checkDir fails unless dir passes the full check at rev.
func checkDir(ctx context.Context, t *testing.T, dir string, rev int64) {
	t.Helper()
	report, err := datadir.Validate(ctx, dir, datadir.Full)
	if err != nil || report.State != datadir.Valid || report.Revision != rev {
		t.Fatalf("%s: %+v, %v; want valid at revision %d", dir, report, err, rev)
	}
}

// putMany writes txns transactions of per keys each, and returns the last revision.
func putMany(t *testing.T, c *clientv3.Client, prefix string, txns, per int) int64 {
	t.Helper()
	value := string(make([]byte, 1024))
	var rev int64
	for i := range txns {
		ops := make([]clientv3.Op, per)
		for j := range ops {
			ops[j] = clientv3.OpPut(fmt.Sprintf("%s%05d", prefix, i*per+j), value)
		}
		resp, err := c.Txn(context.Background()).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// truncateWALMidRecord cuts the last WAL segment in the middle of a record
// halfway through its records: the records after it, which the db has
// applied, are gone.
func truncateWALMidRecord(t *testing.T, dir string) {
	t.Helper()
	wals, _ := filepath.Glob(filepath.Join(dir, "member", "wal", "*.wal"))
	sort.Strings(wals)
	path := wals[len(wals)-1]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Each record is framed by a little-endian length whose top byte may
	// carry the padding; a zero length ends the written part.
	type frame struct{ off, size int64 }
	var frames []frame
	for off := int64(0); off+8 <= int64(len(data)); {
		l := binary.LittleEndian.Uint64(data[off:])
		if l == 0 {
			break
		}
		size := int64(l & 0x00FFFFFFFFFFFFFF)
		if l&(1<<63) != 0 {
			size += int64((l >> 56) & 0x7)
		}
		frames = append(frames, frame{off, size})
		off += 8 + size
	}
	if len(frames) < 20 {
		t.Fatalf("%s has only %d records", path, len(frames))
	}
	mid := frames[len(frames)/2]
	truncateTo(t, path, mid.off+8+mid.size/2)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// treeListing describes every entry under dir by type, size and content.
func treeListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	listing := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			listing[rel] = "dir"
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		listing[rel] = fmt.Sprintf("%d %x", len(data), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return listing
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func truncateTo(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustRemoveAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
