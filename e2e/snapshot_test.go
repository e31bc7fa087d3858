package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/internal/testcert"
)

// TestSnapshotCommand: snapshot waits for an etcd that is not there yet,
// saying so, then takes full snapshots on its schedule and stops cleanly on
// SIGTERM.
func TestSnapshotCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clientAddr := etcdtest.FreeAddr(t)
	storeDir := filepath.Join(dir, "backups")
	p := start(t, "snapshot",
		"--etcd-endpoints", "http://"+clientAddr,
		"--storage-provider", "local", "--store-container", storeDir,
		"--schedule", "* * * * *",
		"--etcd-connection-timeout", "500ms",
		"--garbage-collection-period", "0")
	waitFor(t, p, 30*time.Second, "a message about the missing etcd", func() bool {
		return strings.Contains(p.out.String(), "etcd is not reachable yet; retrying")
	})
	if n := len(fullSnapshots(t, storeDir)); n != 0 {
		t.Fatalf("%d snapshots without etcd", n)
	}

	c := startEtcdAt(t, filepath.Join(dir, "etcd"), clientAddr)
	fill(t, c)
	waitFor(t, p, time.Minute, "the first full snapshot", func() bool { return len(fullSnapshots(t, storeDir)) == 1 })
	if !testing.Short() {
		// The next one comes at the start of the next minute.
		waitFor(t, p, 90*time.Second, "the scheduled full snapshot", func() bool { return len(fullSnapshots(t, storeDir)) == 2 })
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.out.String())
	}
	if !strings.Contains(p.out.String(), "stopping") {
		t.Fatalf("no word about stopping:\n%s", p.out.String())
	}
	code, out := runCLI(t, "list", "--storage-provider", "Local", "--store-container", storeDir)
	if code != 0 || !strings.Contains(out, "full") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
}

// TestSnapshotAuth: with etcd authentication on, the right password (from a
// file) is used and the wrong one ends the command with a clear message
// that never shows it.
func TestSnapshotAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := etcdtest.FreeAddr(t)
	c := startEtcdAt(t, filepath.Join(dir, "etcd"), addr)
	ctx := context.Background()
	if _, err := c.UserAdd(ctx, "root", "right-horse-battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + addr
	storeDir := filepath.Join(dir, "backups")
	args := func(password string) []string {
		return []string{"snapshot", "--endpoints", endpoint,
			"--storage-provider", "Local", "--store-container", storeDir,
			"--schedule", "0 0 1 1 *", "--etcd-connection-timeout", "20s",
			"--etcd-username", "root",
			"--etcd-password-file", writeFile(t, filepath.Join(dir, fmt.Sprintf("pw-%d", len(password))), password)}
	}

	code, out := runCLI(t, args("wrong-staple")...)
	if code != 1 || !strings.Contains(out, "authentication failed") {
		t.Fatalf("wrong password: exit %d, want 1 with the reason:\n%s", code, out)
	}
	if strings.Contains(out, "wrong-staple") {
		t.Fatalf("the password reached the output:\n%s", out)
	}

	p := start(t, args("right-horse-battery")...)
	waitFor(t, p, time.Minute, "a full snapshot with authentication", func() bool { return len(fullSnapshots(t, storeDir)) == 1 })
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if strings.Contains(p.out.String(), "right-horse-battery") {
		t.Fatalf("the password reached the log:\n%s", p.out.String())
	}
}

// TestSnapshotTLS: snapshot reaches an etcd that serves TLS and requires
// client certificates, with --cacert, --cert and --key.
func TestSnapshotTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "etcd-ca")
	server := ca.Server(t, "etcd")
	client := ca.Client(t, "backup")
	addr := etcdtest.FreeAddr(t)
	startEtcdWith(t, filepath.Join(dir, "etcd"), addr, &transport.TLSInfo{
		CertFile: server.CertFile, KeyFile: server.KeyFile, TrustedCAFile: ca.CertFile, ClientCertAuth: true,
	})
	storeDir := filepath.Join(dir, "backups")
	p := start(t, "snapshot", "--endpoints", "https://"+addr,
		"--cacert", ca.CertFile, "--cert", client.CertFile, "--key", client.KeyFile,
		"--insecure-transport=false",
		"--storage-provider", "Local", "--store-container", storeDir,
		"--schedule", "0 0 1 1 *", "--etcd-connection-timeout", "5s")
	waitFor(t, p, time.Minute, "a full snapshot over TLS", func() bool { return len(fullSnapshots(t, storeDir)) == 1 })
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}
