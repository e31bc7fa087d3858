package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"etcdbrctl/datadir"
)

// TestEtcdConfigFile runs etcd from a standard etcd YAML config file, with
// one of its values overridden by a flag, and stops it with SIGINT.
func TestEtcdConfigFile(t *testing.T) {
	n := newNode(t)
	otherClient := freePort(t)
	config := filepath.Join(n.dir, "etcd.yaml")
	yaml := fmt.Sprintf(`name: from-file
data-dir: %s
listen-client-urls: http://127.0.0.1:%d
advertise-client-urls: http://127.0.0.1:%d
listen-peer-urls: http://127.0.0.1:%d
initial-advertise-peer-urls: http://127.0.0.1:%d
initial-cluster: from-file=http://127.0.0.1:%d
`, n.dataDir, otherClient, otherClient, n.peerPort, n.peerPort, n.peerPort)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// The flag wins over the file's client URL.
	p := start(t, "run", "--etcd-config-file", config, "--store", n.store,
		"--listen-client-urls", n.clientURL(), "--advertise-client-urls", n.clientURL(),
		"--server-port", fmt.Sprint(n.apiPort), "--schedule", "0 0 1 1 *")
	n.waitHealthy(p)
	resp, err := n.client().MemberList(t.Context())
	if err != nil || len(resp.Members) != 1 || resp.Members[0].Name != "from-file" {
		t.Fatalf("members: %+v %v", resp, err)
	}
	n.snapshot()
	if _, err := os.Stat(filepath.Join(n.dataDir, "member", "snap", "db")); err != nil {
		t.Fatalf("the config file's data dir is not used: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
	if clean, err := datadir.TakeCleanStop(n.dataDir); err != nil || !clean {
		t.Fatalf("SIGINT did not stop cleanly: %v %v", clean, err)
	}
}
