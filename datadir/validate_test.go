package datadir

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// testLockTimeout keeps the in-use case short; the lock is held throughout.
const testLockTimeout = 200 * time.Millisecond

func validateForTest(ctx context.Context, t *testing.T, dir string, mode Mode) Report {
	t.Helper()
	report, err := validator{lockTimeout: testLockTimeout}.validate(ctx, dir, mode)
	if err != nil {
		t.Fatalf("Validate(%s, %v): %v", dir, mode, err)
	}
	return report
}

func TestValidate(t *testing.T) {
	ctx := t.Context()
	golden := filepath.Join(t.TempDir(), "golden")
	cli, stop := startEtcd(t, golden)
	lastRev := putKeys(ctx, t, cli, "key-", 3000)

	t.Run("in use while etcd runs", func(t *testing.T) {
		for _, mode := range []Mode{Sanity, Full} {
			report := validateForTest(ctx, t, golden, mode)
			if report.State != InUse || !strings.Contains(report.Reason, dbPath+": locked") {
				t.Errorf("%v: got %v (%q), want in-use", mode, report.State, report.Reason)
			}
		}
	})
	stop()

	type want struct {
		state  State
		reason string // a part of Report.Reason
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		sanity want
		full   want
		// sanityVaries is set when Sanity need not read the damaged
		// part and so may find the directory valid.
		sanityVaries bool
	}{
		{
			name:   "valid",
			damage: func(*testing.T, string) {},
			sanity: want{state: Valid},
			full:   want{state: Valid},
		},
		{
			name:   "missing dir",
			damage: func(t *testing.T, dir string) { removeAll(t, dir) },
			sanity: want{state: Empty},
			full:   want{state: Empty},
		},
		{
			name: "empty dir",
			damage: func(t *testing.T, dir string) {
				removeAll(t, dir)
				mkdir(t, dir)
			},
			sanity: want{state: Empty},
			full:   want{state: Empty},
		},
		{
			name: "file instead of dir",
			damage: func(t *testing.T, dir string) {
				removeAll(t, dir)
				writeFile(t, dir, "not a data dir")
			},
			sanity: want{Invalid, "not a directory"},
			full:   want{Invalid, "not a directory"},
		},
		{
			name: "foreign files only",
			damage: func(t *testing.T, dir string) {
				removeAll(t, dir)
				mkdir(t, dir)
				writeFile(t, filepath.Join(dir, "notes.txt"), "hello")
			},
			sanity: want{Invalid, "member: missing"},
			full:   want{Invalid, "member: missing"},
		},
		{
			name:   "db missing",
			damage: func(t *testing.T, dir string) { remove(t, filepath.Join(dir, dbPath)) },
			sanity: want{Invalid, "member/snap/db: missing"},
			full:   want{Invalid, "member/snap/db: missing"},
		},
		{
			name:   "db empty",
			damage: func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, dbPath), 0) },
			sanity: want{Invalid, "member/snap/db: empty (0 bytes)"},
			full:   want{Invalid, "member/snap/db: empty (0 bytes)"},
		},
		{
			name: "db truncated to half",
			damage: func(t *testing.T, dir string) {
				db := filepath.Join(dir, dbPath)
				truncate(t, db, fileSize(t, db)/2)
			},
			sanity: want{Invalid, "member/snap/db: truncated"},
			full:   want{Invalid, "member/snap/db: truncated"},
		},
		{
			name: "both meta pages corrupted",
			damage: func(t *testing.T, dir string) {
				db := filepath.Join(dir, dbPath)
				pageSize := dbPageSize(t, db)
				garbage := randomBytes(64)
				for _, page := range []int{0, 1} {
					// The meta body follows the 16-byte page header.
					overwrite(t, db, int64(page*pageSize+16), garbage)
				}
			},
			sanity: want{Invalid, "member/snap/db: open:"},
			full:   want{Invalid, "member/snap/db: open:"},
		},
		{
			name: "random bytes over a page in use",
			damage: func(t *testing.T, dir string) {
				db := filepath.Join(dir, dbPath)
				pageSize, page := pageInUse(t, db)
				overwrite(t, db, int64(page*pageSize), randomBytes(4096))
			},
			sanityVaries: true,
			full:         want{Invalid, "member/snap/db: "},
		},
		{
			name: "key bucket missing",
			damage: func(t *testing.T, dir string) {
				updateDB(t, filepath.Join(dir, dbPath), func(tx *bolt.Tx) error {
					return tx.DeleteBucket(schema.Key.Name())
				})
			},
			sanity: want{Invalid, `member/snap/db: bucket "key" missing`},
			full:   want{Invalid, `member/snap/db: bucket "key" missing`},
		},
		{
			name: "malformed revision",
			damage: func(t *testing.T, dir string) {
				updateDB(t, filepath.Join(dir, dbPath), func(tx *bolt.Tx) error {
					return tx.Bucket(schema.Key.Name()).Put([]byte("\xff\xff"), []byte("x"))
				})
			},
			sanity: want{Invalid, "member/snap/db: revision: invalid revision length: 2"},
			full:   want{Invalid, "member/snap/db: revision: invalid revision length: 2"},
		},
		{
			name:   "wal dir missing",
			damage: func(t *testing.T, dir string) { removeAll(t, filepath.Join(dir, walPath)) },
			sanity: want{Invalid, "member/wal: missing"},
			full:   want{Invalid, "member/wal: missing"},
		},
		{
			name: "no wal file",
			damage: func(t *testing.T, dir string) {
				wals, err := filepath.Glob(filepath.Join(dir, walPath, "*.wal"))
				if err != nil || len(wals) == 0 {
					t.Fatalf("no wal files to remove: %v", err)
				}
				for _, w := range wals {
					remove(t, w)
				}
			},
			sanity: want{Invalid, "member/wal: no .wal files"},
			full:   want{Invalid, "member/wal: no .wal files"},
		},
		{
			name: "file instead of wal dir",
			damage: func(t *testing.T, dir string) {
				wal := filepath.Join(dir, walPath)
				removeAll(t, wal)
				writeFile(t, wal, "not a wal dir")
			},
			sanity: want{Invalid, "member/wal: not a directory"},
			full:   want{Invalid, "member/wal: not a directory"},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			copyTree(t, golden, dir)
			tc.damage(t, dir)
			for _, mode := range []Mode{Sanity, Full} {
				w := tc.full
				if mode == Sanity {
					if tc.sanityVaries {
						// Whatever Sanity finds, it must not fail or
						// panic, and Full must still judge the copy.
						report := validateForTest(ctx, t, dir, mode)
						t.Logf("%v: %v %q", mode, report.State, report.Reason)
						continue
					}
					w = tc.sanity
				}
				report := validateForTest(ctx, t, dir, mode)
				t.Logf("%v: %v %q", mode, report.State, report.Reason)
				if report.Dir != dir || report.Mode != mode {
					t.Errorf("%v: report for %s in mode %v", mode, report.Dir, report.Mode)
				}
				if report.State != w.state {
					t.Errorf("%v: state %v (%q), want %v", mode, report.State, report.Reason, w.state)
				}
				if w.state == Valid && report.Revision != lastRev {
					t.Errorf("%v: revision %d, want %d", mode, report.Revision, lastRev)
				}
				if !strings.Contains(report.Reason, w.reason) || (w.reason == "" && report.Reason != "") {
					t.Errorf("%v: reason %q, want it to contain %q", mode, report.Reason, w.reason)
				}
			}
		})
	}

	t.Run("leaves the directory as it was", func(t *testing.T) {
		before := treeListing(t, golden)
		for _, mode := range []Mode{Sanity, Full} {
			validateForTest(ctx, t, golden, mode)
		}
		if after := treeListing(t, golden); !reflect.DeepEqual(before, after) {
			t.Errorf("directory changed:\nbefore %v\nafter  %v", before, after)
		}
	})

	t.Run("ended context", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Validate(cancelled, golden, Full)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

// TestValidateRevision checks the revision rule against a directory in
// which a compaction removed the newest revisions, which were deletions.
// etcd keeps the tombstones at the compaction revision itself, and only a
// later compaction (or one that crashed before recording that it finished)
// leaves the key bucket below the compaction revision; the cases recreate
// that state with etcd's encoding, and the revision must still be the
// compaction revision, not the newest revision left in the key bucket.
func TestValidateRevision(t *testing.T) {
	ctx := t.Context()
	compacted := filepath.Join(t.TempDir(), "data")
	cli, stop := startEtcd(t, compacted)
	putKeys(ctx, t, cli, "key-", 10)
	var compactRev int64
	for _, key := range []string{"key-000009", "key-000008", "key-000007"} {
		resp, err := cli.Delete(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		compactRev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, compactRev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	stop()
	for _, name := range [][]byte{schema.FinishedCompactKeyName, schema.ScheduledCompactKeyName} {
		if rev, ok := metaRevision(t, filepath.Join(compacted, dbPath), name); !ok || rev != compactRev {
			t.Fatalf("meta %s = %d (present %v), want %d", name, rev, ok, compactRev)
		}
	}

	cases := []struct {
		name   string
		tamper func(tx *bolt.Tx) error
		want   int64
	}{
		{
			name:   "as etcd left it",
			tamper: func(*bolt.Tx) error { return nil },
			want:   compactRev,
		},
		{
			name: "finished compaction above the newest key",
			tamper: func(tx *bolt.Tx) error {
				return errors.Join(
					deleteKeyRevisionsFrom(tx, compactRev),
					tx.Bucket(schema.Meta.Name()).Delete(schema.ScheduledCompactKeyName))
			},
			want: compactRev,
		},
		{
			name: "scheduled compaction above the newest key",
			tamper: func(tx *bolt.Tx) error {
				return errors.Join(
					deleteKeyRevisionsFrom(tx, compactRev),
					tx.Bucket(schema.Meta.Name()).Delete(schema.FinishedCompactKeyName))
			},
			want: compactRev,
		},
		{
			name: "no revisions at all",
			tamper: func(tx *bolt.Tx) error {
				return errors.Join(
					deleteKeyRevisionsFrom(tx, 0),
					tx.Bucket(schema.Meta.Name()).Delete(schema.ScheduledCompactKeyName),
					tx.Bucket(schema.Meta.Name()).Delete(schema.FinishedCompactKeyName))
			},
			want: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			copyTree(t, compacted, dir)
			updateDB(t, filepath.Join(dir, dbPath), tc.tamper)
			for _, mode := range []Mode{Sanity, Full} {
				report := validateForTest(ctx, t, dir, mode)
				if report.State != Valid || report.Revision != tc.want {
					t.Errorf("%v: got %v at revision %d (%q), want valid at %d",
						mode, report.State, report.Revision, report.Reason, tc.want)
				}
			}
		})
	}
}

// deleteKeyRevisionsFrom removes from the key bucket every revision whose
// main revision is at least from, as a compaction removes tombstones.
func deleteKeyRevisionsFrom(tx *bolt.Tx, from int64) error {
	b := tx.Bucket(schema.Key.Name())
	var doomed [][]byte
	err := b.ForEach(func(k, _ []byte) error {
		if mvcc.BytesToRev(k).Main >= from {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(doomed) == 0 {
		return errors.New("no revisions to delete")
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func metaRevision(t *testing.T, db string, name []byte) (rev int64, ok bool) {
	t.Helper()
	viewDB(t, db, func(tx *bolt.Tx) error {
		if v := tx.Bucket(schema.Meta.Name()).Get(name); v != nil {
			rev, ok = mvcc.BytesToRev(v).Main, true
		}
		return nil
	})
	return rev, ok
}

// pageInUse returns the page size of db and a branch or leaf page from the
// second half of the file, one that bbolt reads through its tree.
func pageInUse(t *testing.T, db string) (pageSize, page int) {
	t.Helper()
	page = -1
	viewDB(t, db, func(tx *bolt.Tx) error {
		pageSize = tx.DB().Info().PageSize
		pages := int(tx.Size()) / pageSize
		for id := pages / 2; id < pages && page < 0; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info != nil && (info.Type == "branch" || info.Type == "leaf") {
				page = id
			}
		}
		return nil
	})
	if page < 0 {
		t.Fatal("no branch or leaf page in the second half of the db")
	}
	return pageSize, page
}

func dbPageSize(t *testing.T, db string) int {
	t.Helper()
	var size int
	viewDB(t, db, func(tx *bolt.Tx) error {
		size = tx.DB().Info().PageSize
		return nil
	})
	return size
}

func viewDB(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

func updateDB(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// randomBytes is deterministic, so that a failure can be reproduced.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func overwrite(t *testing.T, path string, offset int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, offset); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
