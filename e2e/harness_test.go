// Package e2e drives the built etcdbrctl binary the way a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// binary is the etcdbrctl built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "etcdbrctl-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "etcdbrctl")
		args := []string{"build", "-o", binary}
		if raceBuild {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, "..")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build etcdbrctl:", err)
			return 1
		}
		return m.Run()
	}())
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output safely while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// node is one `etcdbrctl run` setup: its dirs and ports stay the same across
// restarts, as a real member's would.
type node struct {
	t          *testing.T
	dir        string // parent of data dir and store
	dataDir    string
	store      string
	clientPort int
	peerPort   int
	apiPort    int
	extra      []string
}

func newNode(t *testing.T, extra ...string) *node {
	dir := t.TempDir()
	return &node{
		t: t, dir: dir,
		dataDir:    filepath.Join(dir, "etcd"),
		store:      filepath.Join(dir, "backups"),
		clientPort: freePort(t), peerPort: freePort(t), apiPort: freePort(t),
		extra: extra,
	}
}

func (n *node) args() []string {
	return append([]string{"run",
		"--data-dir", n.dataDir,
		"--store", n.store,
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", n.clientPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", n.peerPort),
		"--server-port", fmt.Sprint(n.apiPort),
		"--schedule", "0 0 1 1 *",
	}, n.extra...)
}

func (n *node) clientURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.clientPort) }
func (n *node) apiURL() string    { return fmt.Sprintf("http://127.0.0.1:%d", n.apiPort) }

// proc is a running etcdbrctl.
type proc struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	done    chan struct{}
	waitErr error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with more environment variables.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A descendant left behind by a failure must not keep Wait (and the
	// test) waiting for its end of the output pipe.
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("etcdbrctl %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

func (n *node) start() *proc {
	n.t.Helper()
	p := start(n.t, n.args()...)
	n.waitHealthy(p)
	return p
}

// waitHealthy polls /healthz until it answers 200, or fails the test if the
// process exits or a minute passes.
func (n *node) waitHealthy(p *proc) {
	n.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			n.t.Fatalf("etcdbrctl exited early (%v):\n%s", p.waitErr, p.out.String())
		default:
		}
		resp, err := http.Get(n.apiURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.t.Fatalf("etcdbrctl never became healthy:\n%s", p.out.String())
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("etcdbrctl still running after %v:\n%s", timeout, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) kill9(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) term(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(t, time.Minute)
}

func (n *node) client() *clientv3.Client {
	n.t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, DialTimeout: 5 * time.Second})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	return c
}

// snapshot asks the running node for a full snapshot.
type manifest struct {
	Kind     string `json:"kind"`
	Revision int64  `json:"revision"`
	Data     string `json:"data"`
}

func (n *node) snapshot() manifest {
	n.t.Helper()
	resp, err := http.Post(n.apiURL()+"/snapshot/full", "", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 || m.Revision == 0 {
		n.t.Fatalf("POST /snapshot/full: status %d, %+v, %v", resp.StatusCode, m, err)
	}
	return m
}

// runCLI runs a short command and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}
