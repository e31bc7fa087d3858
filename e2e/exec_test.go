package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"etcdbrctl/datadir"
)

// TestExecRestartsKilledEtcd: etcd killed with SIGKILL comes back with its
// data, and backups go on; SIGTERM then stops everything cleanly.
func TestExecRestartsKilledEtcd(t *testing.T) {
	n := newExecNode(t, "--restart-backoff", "200ms")
	p := n.start()
	c := n.client()
	put, err := c.Put(context.Background(), "survivor", "yes")
	if err != nil {
		t.Fatal(err)
	}
	first := etcdChild(t, p)
	if len(fullManifests(t, n.store)) == 0 {
		n.snapshot()
	}
	before := len(fullManifests(t, n.store))

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := newEtcdChild(t, p, first)
	n.waitHealthy(p)
	if !strings.Contains(p.out.String(), "killed by signal 9") {
		t.Fatalf("the restart does not say why:\n%s", p.out.String())
	}
	resp, err := c.Get(context.Background(), "survivor")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "yes" || resp.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("data after the restart: %v %v", resp, err)
	}
	m := n.snapshot()
	if m.Revision < put.Header.Revision {
		t.Fatalf("snapshot after the restart at revision %d, before the write at %d", m.Revision, put.Header.Revision)
	}
	if after := len(fullManifests(t, n.store)); after != before+1 {
		t.Fatalf("%d full snapshots after the restart, want %d", after, before+1)
	}

	// SIGTERM: etcd stops gracefully (the clean stop is recorded only then),
	// exit code 0, nothing of etcd's process group left.
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.out.String())
	}
	if left := inGroup(t, second); len(left) != 0 {
		t.Fatalf("processes of etcd's group left behind: %+v", left)
	}
	if clean, err := datadir.TakeCleanStop(n.dataDir); err != nil || !clean {
		t.Fatalf("no clean stop recorded (%v, %v):\n%s", clean, err, p.out.String())
	}
}

// TestExecRepairsBetweenRestarts: the db is damaged while etcd is down after
// a crash; the restart checks the data dir again and restores it.
func TestExecRepairsBetweenRestarts(t *testing.T) {
	// A long first backoff leaves time to damage the db before the check.
	n := newExecNode(t, "--restart-backoff", "10s")
	p := n.start()
	fill(t, n.client())
	m := n.snapshot()

	if err := syscall.Kill(etcdChild(t, p), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	n.waitPhase(p, "restarting")
	corruptUsedPage(t, filepath.Join(n.dataDir, "member", "snap", "db"))
	n.waitHealthy(p)

	checkAll(t, n.client(), m.Revision)
	if q := quarantined(t, n.dataDir); len(q) != 1 {
		t.Fatalf("quarantined dirs: %v\n%s", q, p.out.String())
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// TestExecExitCodes: etcdbrctl ends with its child's exit code, or 128 plus
// the signal that killed it.
func TestExecExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   []string
		command string
		code    int
		says    string
	}{
		{"exit 3, never restarted", []string{"--restart", "never"}, "exit 3", 3, "--restart never"},
		{"killed by SIGKILL", []string{"--restart", "never"}, "kill -9 $$", 137, "--restart never"},
		{"restart budget exhausted", []string{"--max-restarts", "3", "--restart-backoff", "10ms"}, "echo started; exit 7", 7, "restarted 3 times within 10m0s"},
		{"a clean exit is not a failure", nil, "exit 0", 0, "not restarting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"run", "--store", filepath.Join(dir, "backups"), "--server-port", "0",
				"--data-dir", filepath.Join(dir, "etcd"), "--etcd-endpoints", fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
				tc.flags...)
			code, out := runCLI(t, append(args, "--", "sh", "-c", tc.command)...)
			if code != tc.code || !strings.Contains(out, tc.says) {
				t.Fatalf("exit code %d (want %d), output (want %q):\n%s", code, tc.code, tc.says, out)
			}
			if tc.name == "restart budget exhausted" {
				if starts := strings.Count(out, "started\n"); starts != 4 {
					t.Fatalf("the child ran %d times, want 4:\n%s", starts, out)
				}
			}
		})
	}
}

// TestExecRefusesEmbeddedFlags: etcd's own flags configure the child.
func TestExecRefusesEmbeddedFlags(t *testing.T) {
	dir := t.TempDir()
	code, out := runCLI(t, "run", "--store", filepath.Join(dir, "b"), "--name", "x", "--", "etcd", "--name", "x")
	if code != 2 || !strings.Contains(out, "--name configures the embedded etcd") {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	code, out = runCLI(t, "run", "--store", filepath.Join(dir, "b"), "--", "etcd", "--nmae", "x")
	if code != 2 || !strings.Contains(out, "-nmae") {
		t.Fatalf("a bad etcd flag: exit code %d:\n%s", code, out)
	}
}
