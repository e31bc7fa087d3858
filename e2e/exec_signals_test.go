package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalScript runs etcd in the background and writes the name of every
// signal it receives to a file, so the test sees what etcdbrctl forwards.
// SIGTERM stops etcd and the script.
const signalScript = `log=$1; shift
"$@" & pid=$!
echo $pid > $log.pid
for sig in HUP QUIT USR1 USR2; do trap "echo $sig >> $log" $sig; done
trap 'kill -TERM $pid; wait $pid; exit 0' TERM
while kill -0 $pid 2>/dev/null; do wait $pid; done
`

// TestExecForwardsSignals: SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to
// etcdbrctl reach the child; SIGTERM still stops everything cleanly.
func TestExecForwardsSignals(t *testing.T) {
	n := newExecNode(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "wrapper.sh")
	if err := os.WriteFile(script, []byte(signalScript), 0o700); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "signals")
	// A wrapper's arguments are not read as etcd's, so the data dir and
	// the client URL are given to etcdbrctl.
	args := append([]string{"run", "--store", n.store, "--server-port", fmt.Sprint(n.apiPort),
		"--schedule", "0 0 1 1 *", "--data-dir", n.dataDir, "--etcd-endpoints", n.clientURL(),
		"--", "sh", script, got}, n.etcdArgs()...)
	p := start(t, args...)
	// Should etcdbrctl die without stopping its child, etcd would outlive
	// the test; the script records its PID for this clean-up.
	t.Cleanup(func() {
		if b, err := os.ReadFile(got + ".pid"); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	n.waitHealthy(p)

	want := []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	for _, sig := range want {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(got)
		lines := strings.Fields(string(b))
		if len(lines) == len(want) {
			for _, name := range []string{"HUP", "QUIT", "USR1", "USR2"} {
				if !strings.Contains(string(b), name) {
					t.Fatalf("the child received %q, not %s", lines, name)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child received %q, want HUP, QUIT, USR1 and USR2", lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}
