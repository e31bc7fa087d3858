package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// initOutput is the part of `initialize --json` scripts rely on.
type initOutput struct {
	Dir    string `json:"dir"`
	Mode   string `json:"mode"`
	DryRun bool   `json:"dryRun"`
	Action string `json:"action"`
	Report struct {
		State    string `json:"state"`
		Code     string `json:"code"`
		Reason   string `json:"reason"`
		Revision int64  `json:"revision"`
	} `json:"report"`
	Backup      string `json:"backup"`
	Revision    int64  `json:"revision"`
	Quarantined string `json:"quarantined"`
	Error       string `json:"error"`
}

// initialize runs `etcdbrctl initialize --json` and returns its exit code
// and parsed output.
func initialize(t *testing.T, n *node, args ...string) (int, initOutput) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"initialize", "--json", "--store", n.store, "--data-dir", n.dataDir}, args...)
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	var out initOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("initialize %v printed no JSON (%v):\n%s\n%s", args, err, stdout.String(), stderr.String())
	}
	t.Logf("initialize %v: exit %d, %+v", args[6:], cmd.ProcessState.ExitCode(), out)
	return cmd.ProcessState.ExitCode(), out
}

// TestInitialize drives `etcdbrctl initialize` as a process on a data dir
// that `etcdbrctl run` wrote and a local store holding its backup.
func TestInitialize(t *testing.T) {
	n := newNode(t)
	p := n.start()
	fill(t, n.client())
	m := n.snapshot()
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if _, err := os.Stat(filepath.Join(n.dataDir, ".etcdbrctl-owner.json")); err != nil {
		t.Fatalf("run did not record the owner of the data dir: %v", err)
	}

	code, out := initialize(t, n)
	if code != 0 || out.Action != "kept" || out.Report.State != "valid" || out.Mode != "full" {
		t.Fatalf("valid dir: exit %d, %+v", code, out)
	}

	corruptUsedPage(t, filepath.Join(n.dataDir, "member", "snap", "db"))
	before := listing(t, n.dataDir)
	code, out = initialize(t, n, "--dry-run")
	if code != 4 || out.Action != "would-restore" || !out.DryRun || out.Report.State != "invalid" ||
		out.Report.Code != "db-corrupt" || out.Revision != m.Revision {
		t.Fatalf("dry run on a damaged dir: exit %d, %+v", code, out)
	}
	if !reflect.DeepEqual(before, listing(t, n.dataDir)) || len(quarantined(t, n.dataDir)) != 0 {
		t.Fatal("--dry-run changed the data dir")
	}

	code, out = initialize(t, n, "--validation-mode", "full")
	if code != 0 || out.Action != "restored" || out.Quarantined == "" || out.Revision != m.Revision {
		t.Fatalf("damaged dir: exit %d, %+v", code, out)
	}
	if !reflect.DeepEqual(before, listing(t, out.Quarantined)) {
		t.Fatal("the quarantined dir is not the damaged one as it was")
	}
	code, out = initialize(t, n, "--validation-mode", "sanity")
	if code != 0 || out.Action != "kept" || out.Report.Revision != m.Revision {
		t.Fatalf("restored dir: exit %d, %+v", code, out)
	}

	// The same volume configured for another member: refused, untouched.
	before = listing(t, n.dataDir)
	code, out = initialize(t, n, "--name", "member-2")
	if code != 3 || out.Action != "refused" || out.Report.State != "foreign" || !strings.Contains(out.Error, "another cluster") {
		t.Fatalf("wrong volume: exit %d, %+v", code, out)
	}
	if !reflect.DeepEqual(before, listing(t, n.dataDir)) || len(quarantined(t, n.dataDir)) != 1 {
		t.Fatal("a wrong volume was changed or quarantined")
	}

	// The restored dir starts and holds every key at the backup's revision.
	p = n.start()
	checkAll(t, n.client(), m.Revision)
	p.term(t)
}

// TestInitializeHumanOutput checks the text a person reads, and the exit
// code of a bad mode.
func TestInitializeHumanOutput(t *testing.T) {
	dir := t.TempDir()
	code, out := runCLI(t, "initialize", "--store", filepath.Join(dir, "store"), "--data-dir", filepath.Join(dir, "etcd"))
	if code != 0 || !strings.Contains(out, "etcd starts fresh") {
		t.Fatalf("no dir, no backup: exit %d:\n%s", code, out)
	}
	code, out = runCLI(t, "initialize", "--store", filepath.Join(dir, "store"), "--validation-mode", "deep")
	if code != 2 || !strings.Contains(out, "validation-mode") {
		t.Fatalf("bad mode: exit %d:\n%s", code, out)
	}
}

// listing describes every file under dir by size and content.
func listing(t *testing.T, dir string) map[string]string {
	t.Helper()
	l := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		l[rel] = fmt.Sprintf("%d %x", len(b), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
