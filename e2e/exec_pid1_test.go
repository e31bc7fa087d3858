package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"
)

// orphanScript double-forks orphans that end around the moment it exits
// itself; its last round counts the zombies in the PID namespace first.
const orphanScript = `
for i in 1 2 3 4 5 6 7 8; do (sh -c 'exit 9' &); (sleep 0.05 &); done
if [ "$1" = count ]; then
	sleep 1
	z=0
	for f in /proc/[0-9]*/stat; do
		read -r line < "$f" 2>/dev/null || continue
		case "${line##*) }" in Z*) z=$((z+1));; esac
	done
	echo "zombies=$z pid1=$(cat /proc/1/comm)"
fi
exit 3
`

// TestExecAsPID1ReapsOrphans runs etcdbrctl as PID 1 of a new PID
// namespace: orphans are reaped, and its own child's status is not lost.
func TestExecAsPID1ReapsOrphans(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testserver.Unavailable(t, "unshare: %v", err)
	}
	if probe := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "true"); probe.Run() != nil {
		testserver.Unavailable(t, "unshare --pid --fork --mount-proc does not work here (needs root)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "orphans.sh")
	if err := os.WriteFile(script, []byte(orphanScript), 0o755); err != nil {
		t.Fatal(err)
	}
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	for i := range rounds {
		last := i == rounds-1
		args := []string{"--pid", "--fork", "--mount-proc", binary, "run",
			"--store", filepath.Join(dir, "backups"), "--server-port", "0", "--restart", "never",
			"--data-dir", filepath.Join(dir, "etcd"), "--etcd-endpoints", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			"--", "/bin/sh", script}
		if last {
			args = append(args, "count")
		}
		out, err := exec.Command(unshare, args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("round %d: %v, want exit code 3 (the child's):\n%s", i, err, out)
		}
		if last && !strings.Contains(string(out), "zombies=0 pid1=etcdbrctl") {
			t.Fatalf("zombies left in the namespace, or etcdbrctl not PID 1:\n%s", out)
		}
	}
}

// TestExecSdNotify: under systemd's Type=notify, READY=1 comes once etcd
// serves, STOPPING=1 on stop, and only from etcdbrctl itself.
func TestExecSdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	if err != nil {
		t.Fatal(err)
	}
	type message struct {
		pid   int32
		state string
	}
	messages := make(chan message, 100)
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				close(messages)
				return
			}
			m := message{state: string(buf[:n])}
			if scms, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil && len(scms) > 0 {
				if cred, err := syscall.ParseUnixCredentials(&scms[0]); err == nil {
					m.pid = cred.Pid
				}
			}
			messages <- m
		}
	}()
	// await reads messages until one holds want; every one must come from pid.
	await := func(pid int, want string) {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case m, ok := <-messages:
				if !ok {
					t.Fatalf("notify socket closed before %s", want)
				}
				if m.pid != int32(pid) {
					t.Fatalf("%q came from pid %d, not etcdbrctl (%d)", m.state, m.pid, pid)
				}
				if strings.Contains(m.state, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s", want)
			}
		}
	}

	n := newExecNode(t)
	p := startEnv(t, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}, n.args()...)
	pid := p.cmd.Process.Pid
	await(pid, "READY=1")
	// Ready means etcd serves already.
	if _, err := n.client().Put(t.Context(), "k", "v"); err != nil {
		t.Fatalf("etcd does not serve after READY=1: %v", err)
	}
	await(pid, "WATCHDOG=1")
	p.cmd.Process.Signal(syscall.SIGTERM)
	await(pid, "STOPPING=1")
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
