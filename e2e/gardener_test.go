package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRestoreGardenerBackup: `restore` with gardener's flags reads a
// backup gardener's etcd-backup-restore wrote (full snapshot plus deltas,
// gzip), and etcd serves its final state.
func TestRestoreGardenerBackup(t *testing.T) {
	container := filepath.Join(t.TempDir(), "stores")
	if out, err := exec.Command("cp", "-a", "../backup/gardener/testdata/gzip", container).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	n := newNode(t)
	code, out := runCLI(t, "restore", "--storage-provider", "Local", "--store-container", container,
		"--store-prefix", "etcd-main", "--data-dir", n.dataDir)
	if code != 0 {
		t.Fatalf("restore: exit %d:\n%s", code, out)
	}
	if err := os.MkdirAll(n.store, 0o700); err != nil {
		t.Fatal(err)
	}
	n.start()
	resp, err := n.client().Get(context.Background(), "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	// The state gardener's fixture documents at its last revision.
	if resp.Count != 504 || resp.Header.Revision < 24 {
		t.Fatalf("%d keys at revision %d, want 504 at 24 or later", resp.Count, resp.Header.Revision)
	}
}
