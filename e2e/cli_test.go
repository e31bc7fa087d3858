package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadInput: each mistake gets one line naming the flag, exit code 2, and
// nothing on disk or in the store.
func TestBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		args func(n *node) []string
		flag string
	}{
		{"bad cron", func(n *node) []string { return []string{"--schedule", "every hour"} }, "--schedule"},
		{"unknown store scheme", func(n *node) []string { return []string{"--store", "ftp://host/backups"} }, "--store"},
		{"store on a missing volume", func(n *node) []string {
			return []string{"--store", filepath.Join(n.dir, "unmounted", "backups")}
		}, "--store"},
		{"unreadable identity file", func(n *node) []string {
			return []string{"--encryption-identity-file", filepath.Join(n.dir, "missing-key.txt")}
		}, "--encryption-identity-file"},
		{"bad recipient", func(n *node) []string { return []string{"--encryption-recipient", "age1notakey"} }, "--encryption-recipient"},
		{"API port in use", func(n *node) []string { return []string{"--server-port", fmt.Sprint(busyPort)} }, "--server-port"},
		{"client port in use", func(n *node) []string {
			return []string{"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", busyPort)}
		}, "--listen-client-urls"},
		{"max backups", func(n *node) []string { return []string{"--max-backups", "0"} }, "--max-backups"},
		{"unknown flag", func(n *node) []string { return []string{"--no-such-flag"} }, "--no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t)
			code, out := runCLI(t, append(n.args(), tc.args(n)...)...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; output:\n%s", code, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, tc.flag) {
				t.Fatalf("the last line does not name %s:\n%s", tc.flag, out)
			}
			for _, p := range []string{n.dataDir, n.store} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created", p)
				}
			}
		})
	}
}

func TestListRestoreAndCleanStop(t *testing.T) {
	n := newNode(t, "--max-backups", "2", "--garbage-collection-period", "200ms", "--delta-snapshot-period", "0")
	p := n.start()
	c := n.client()
	fill(t, c)
	first := n.snapshot()
	second := n.snapshot()
	if second.Revision != first.Revision {
		t.Fatalf("no writes between snapshots, yet revisions %d and %d", first.Revision, second.Revision)
	}
	if _, err := c.Put(t.Context(), "extra", "x"); err != nil {
		t.Fatal(err)
	}
	third := n.snapshot()
	if third.Revision != first.Revision+1 {
		t.Fatalf("third snapshot at revision %d, want %d", third.Revision, first.Revision+1)
	}

	// GC runs every 200ms and keeps 2 of the (at least) 4 full snapshots.
	var listed []struct {
		Kind      string    `json:"kind"`
		Revision  int64     `json:"revision"`
		Time      time.Time `json:"time"`
		Size      int64     `json:"size"`
		Encrypted bool      `json:"encrypted"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out := runCLI(t, "list", "--store", n.store, "--json")
		if code != 0 {
			t.Fatalf("list: exit %d\n%s", code, out)
		}
		if err := json.Unmarshal([]byte(out), &listed); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		if len(listed) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(listed) != 2 || listed[1].Revision != third.Revision || listed[1].Kind != "full" || listed[1].Size == 0 || listed[1].Encrypted {
		t.Fatalf("list after GC: %+v", listed)
	}
	code, out := runCLI(t, "list", "--store", n.store)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("0-%d", third.Revision)) {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	// A manifest that cannot be read is listed from its name, with the
	// reason, and the exit code says something is wrong.
	broken := filepath.Join(n.store, "etcdbr-v1", "full-0000000000000001-20000101T000000.000Z.json")
	if err := os.WriteFile(broken, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "list", "--store", n.store); code != 1 || !strings.Contains(out, "manifest unreadable") ||
		!strings.Contains(out, fmt.Sprintf("0-%d", third.Revision)) || !strings.Contains(out, "full-0000000000000001-20000101T000000.000Z.json") {
		t.Fatalf("list with a broken manifest: exit %d\n%s", code, out)
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}

	// Every flag can come from the environment instead.
	t.Setenv("ETCDBR_STORE", n.store)
	if code, envOut := runCLI(t, "list"); code != 0 || envOut != out {
		t.Fatalf("list with ETCDBR_STORE: exit %d\n%s\nwant\n%s", code, envOut, out)
	}

	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	// After a clean stop the next start is trusted with the quick check.
	p = n.start()
	if !strings.Contains(p.out.String(), "check=sanity") {
		t.Fatalf("start after a clean stop did not use the sanity check:\n%s", p.out.String())
	}
	p.term(t)

	// restore into a fresh dir, then into a used one.
	target := filepath.Join(n.dir, "restored")
	restoreArgs := []string{"restore", "--store", n.store, "--data-dir", target,
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", n.peerPort)}
	if code, out := runCLI(t, restoreArgs...); code != 0 || !strings.Contains(out, fmt.Sprint(third.Revision)) {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, restoreArgs...); code != 2 || !strings.Contains(out, "--force") {
		t.Fatalf("restore over a used dir without --force: exit %d\n%s", code, out)
	}
	if code, out := runCLI(t, append(restoreArgs, "--force")...); code != 0 || len(quarantined(t, target)) != 1 {
		t.Fatalf("restore --force: exit %d, quarantined %v\n%s", code, quarantined(t, target), out)
	}
	n.dataDir = target
	n.start()
	resp, err := n.client().Get(t.Context(), "extra")
	if err != nil || len(resp.Kvs) != 1 || resp.Header.Revision != third.Revision {
		t.Fatalf("restored member: %v %v", resp, err)
	}
}

func TestVersion(t *testing.T) {
	code, out := runCLI(t, "version")
	if code != 0 || !strings.Contains(out, "etcdbrctl ") || !strings.Contains(out, "etcd 3.6.") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: exit %d\n%s", code, out)
	}
}
