package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/providers/file"
)

// TestRestoreToRevision drives `etcdbrctl restore` over a full snapshot
// and a delta segment: to a revision inside the segment, with a revision
// bump, and with bad point-in-time flags.
func TestRestoreToRevision(t *testing.T) {
	ctx := context.Background()
	storeDir, store := fileStore(t)
	e, c := etcdtest.Start(t, t.TempDir())
	for i := range 10 {
		if _, err := c.Put(ctx, fmt.Sprintf("k%d", i), "before"); err != nil {
			t.Fatal(err)
		}
	}
	full, err := backup.TakeFull(ctx, c, store, backup.Encryption{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wch := c.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(full.Revision+1))
	for i := range 10 {
		if _, err := c.Put(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("after-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	last := full.Revision + 10
	var events []*clientv3.Event
	for len(events) < 10 {
		resp := <-wch
		if err := resp.Err(); err != nil {
			t.Fatal(err)
		}
		events = append(events, resp.Events...)
	}
	etcdtest.Stop(e)
	_, err = backup.WriteDelta(ctx, store, backup.Encryption{}, full.Revision+1, last, time.Now(), func(w *backup.DeltaWriter) error {
		for _, ev := range events {
			if err := w.Event((*mvccpb.Event)(ev)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	target := full.Revision + 4
	dir := filepath.Join(t.TempDir(), "restored")
	code, out := runCLI(t, "restore", "--store", storeDir, "--data-dir", dir, "--to-revision", fmt.Sprint(target), "--max-fetchers", "2")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("at revision %d", target)) {
		t.Fatalf("restore --to-revision: exit %d\n%s", code, out)
	}
	checkMember(t, dir, target, "k3", "after-3", "k4", "before")

	bumped := filepath.Join(t.TempDir(), "bumped")
	code, out = runCLI(t, "restore", "--store", storeDir, "--data-dir", bumped, "--bump-revision", "1000", "--mark-compacted")
	if code != 0 {
		t.Fatalf("restore --bump-revision: exit %d\n%s", code, out)
	}
	checkMember(t, bumped, last+1000, "k9", "after-9")

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to-revision", "5", "--to-time", "2026-01-01T00:00:00Z"}, 2, "--to-time"},
		{[]string{"--to-time", "yesterday"}, 2, "--to-time"},
		{[]string{"--bump-revision", "10"}, 2, "--mark-compacted"},
		{[]string{"--max-fetchers", "0"}, 2, "--max-fetchers"},
		{[]string{"--to-revision", fmt.Sprint(last + 5)}, 1, fmt.Sprintf("revision %d is in no chain", last+5)},
	} {
		fresh := filepath.Join(t.TempDir(), "fresh")
		code, out := runCLI(t, append([]string{"restore", "--store", storeDir, "--data-dir", fresh}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("restore %v: exit %d, want %d and %q\n%s", tc.args, code, tc.code, tc.want, out)
		}
		if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(fresh), "*")); len(matches) != 0 {
			t.Errorf("restore %v left %v", tc.args, matches)
		}
	}
}

// checkMember starts etcd on dir and checks its revision and some keys.
func checkMember(t *testing.T, dir string, rev int64, kvs ...string) {
	t.Helper()
	e, c := etcdtest.Start(t, dir)
	defer etcdtest.Stop(e)
	for i := 0; i < len(kvs); i += 2 {
		resp, err := c.Get(context.Background(), kvs[i])
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Revision != rev {
			t.Fatalf("restored member at revision %d, want %d", resp.Header.Revision, rev)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != kvs[i+1] {
			t.Fatalf("%s = %v, want %s", kvs[i], resp.Kvs, kvs[i+1])
		}
	}
}

// TestRestoreAfterKilledRestore: a restore killed with -9 leaves its
// staging directory behind (and nothing under the data dir's name); the
// next restore removes that leftover, says so, and restores.
func TestRestoreAfterKilledRestore(t *testing.T) {
	ctx := context.Background()
	storeDir, store := fileStore(t)
	e, c := etcdtest.Start(t, t.TempDir())
	value := strings.Repeat("v", 100<<10)
	for i := range 200 {
		if _, err := c.Put(ctx, fmt.Sprintf("k%03d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	full, err := backup.TakeFull(ctx, c, store, backup.Encryption{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	etcdtest.Stop(e)

	parent := t.TempDir()
	dir := filepath.Join(parent, "restored")
	p := start(t, "restore", "--store", storeDir, "--data-dir", dir)
	downloading := filepath.Join(parent, ".restored.staging-*", ".data.restore-*", "snapshot.db")
	for {
		if m, _ := filepath.Glob(downloading); len(m) > 0 {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("restore ended (%v) before it could be killed mid-way:\n%s", p.waitErr, p.out.String())
		case <-time.After(time.Millisecond):
		}
	}
	p.kill9(t)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the killed restore left %s (%v)", dir, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(parent, ".restored.staging-*"))
	if len(leftovers) != 1 {
		t.Fatalf("leftovers of the killed restore: %v, want one staging directory", leftovers)
	}

	code, out := runCLI(t, "restore", "--store", storeDir, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "removed the leftover of a restore that did not finish") ||
		!strings.Contains(out, leftovers[0]) {
		t.Fatalf("restore after the kill: exit %d, want 0 and the leftover %s named\n%s", code, leftovers[0], out)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, ".restored.*")); len(left) != 0 {
		t.Errorf("left beside the data dir after the second restore: %v", left)
	}
	checkMember(t, dir, full.Revision, "k199", value)
}

// fileStore makes an empty file store in a temporary directory.
func fileStore(t *testing.T) (string, *file.Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backups")
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, store
}
