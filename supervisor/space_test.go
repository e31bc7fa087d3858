package supervisor

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
)

// TestRestoreRefusedWithoutSpace asks for a restore whose manifest claims a
// db far larger than any disk here: the real free space of the data dir's
// filesystem is too small, so the restore is refused before anything is
// written, with the figures a person needs.
func TestRestoreRefusedWithoutSpace(t *testing.T) {
	fx := newMatrixFixture(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "etcd")
	copyDir(t, fx.golden, dir)
	truncateTo(t, filepath.Join(dir, "member", "snap", "db"), 0)
	before := treeListing(t, dir)

	r := Restorer{Store: fx.store, Member: fx.member, Expect: fx.expect, Log: testLogger()}
	huge := fx.backup
	huge.DBSize = 1 << 50
	_, err := r.restoreFrom(ctx, dir, backup.Plan{Full: huge, Revision: huge.Revision})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "free") {
		t.Fatalf("restore of a 1 PiB db = %v, want ErrNoSpace", err)
	}
	t.Log(err)
	if !reflect.DeepEqual(before, treeListing(t, dir)) {
		t.Fatal("a refused restore changed the data dir")
	}
	if q, _ := filepath.Glob(dir + ".quarantine-*"); len(q) != 0 {
		t.Fatalf("a refused restore quarantined the dir: %v", q)
	}
	if staged, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".etcd.staging-*")); len(staged) != 0 {
		t.Fatalf("a refused restore left %v", staged)
	}

	// The sizes that fit are accepted: the real backup restores.
	res, err := r.Initialize(ctx, dir, datadir.Sanity, false)
	if err != nil || res.Action != ActionRestored {
		t.Fatalf("Initialize = %s, %v", res.Action, err)
	}
}
