// Package testserver starts the real servers tests run against (object
// stores, toxiproxy, an etcd binary) on 127.0.0.1, and stops them when the
// test ends. `make test` installs them first (scripts/test-tools.sh).
//
// A test whose server cannot start fails, unless ALLOW_SKIP=1 is set: then
// it is skipped. CI sets nothing, so every server must run there.
package testserver

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
)

// Unavailable ends a test whose server or tool cannot run here: a skip with
// ALLOW_SKIP=1, a failure otherwise.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("ALLOW_SKIP") == "1" {
		tb.Skip("server unavailable (ALLOW_SKIP=1): " + msg)
	}
	tb.Fatal("server unavailable (set ALLOW_SKIP=1 to skip instead): " + msg)
}

// Root is the repository root: the nearest directory above the working
// directory holding the module's go.mod.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module etcdbrctl\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no etcdbrctl go.mod above the working directory")
		}
		dir = parent
	}
}

// ToolsDir is where scripts/test-tools.sh installs binaries; ETCDBR_TEST_TOOLS
// overrides it.
func ToolsDir(tb testing.TB) string {
	if d := os.Getenv("ETCDBR_TEST_TOOLS"); d != "" {
		return d
	}
	return filepath.Join(Root(tb), ".cache", "bin")
}

// Tool returns the path of an installed tool: from ToolsDir, else from PATH.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(ToolsDir(tb), name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Unavailable(tb, "%s is not installed; run scripts/test-tools.sh", name)
	return ""
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is a server process started for a test.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // file holding its stdout and stderr

	done    chan struct{}
	waitErr error
}

// Start runs cmd in a process group of its own, its output to a log file
// that is printed when the test fails, and stops it when the test ends.
func Start(tb testing.TB, name string, cmd *exec.Cmd) *Proc {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		Unavailable(tb, "start %s: %v", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				tb.Logf("%s log (last 4 KiB):\n%s", name, tail(b, 4096))
			}
		}
	})
	return p
}

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Stop ends the process group: SIGTERM, then SIGKILL after 5 s.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.Cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// WaitTCP waits until addr accepts a connection. It gives up when the
// process exits or timeout passes, and then calls Unavailable.
func (p *Proc) WaitTCP(tb testing.TB, addr string, timeout time.Duration) {
	tb.Helper()
	if err := p.waitReady(timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		b, _ := os.ReadFile(p.Log)
		Unavailable(tb, "%s on %s: %v\n%s", p.Name, addr, err, tail(b, 2048))
	}
}

// WaitReady polls ready until it returns nil, the process exits or timeout
// passes; in the last two cases it calls Unavailable.
func (p *Proc) WaitReady(tb testing.TB, timeout time.Duration, ready func() error) {
	tb.Helper()
	if err := p.waitReady(timeout, ready); err != nil {
		b, _ := os.ReadFile(p.Log)
		Unavailable(tb, "%s: %v\n%s", p.Name, err, tail(b, 2048))
	}
}

func (p *Proc) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("exited before it was ready: %v", errors.Join(p.waitErr, err))
		default:
		}
		if err = ready(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %w", timeout, err)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
