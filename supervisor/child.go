package supervisor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ChildConfig describes etcd run as a child process.
type ChildConfig struct {
	// Argv is etcd's command line, passed on unchanged; Argv[0] is looked
	// up in PATH when it has no slash.
	Argv []string
	// Env is etcd's environment; the service manager's variables
	// (NOTIFY_SOCKET, WATCHDOG_*) are removed from it.
	Env    []string
	Reaper *Reaper
	// ClientURL is where etcdbrctl reaches etcd; TLS, if set, secures it.
	ClientURL string
	TLS       *tls.Config
	// ReadyTimeout bounds the wait for etcd to answer; 0 waits as long as
	// etcd runs.
	ReadyTimeout time.Duration
	// Stdout and Stderr receive etcd's output as it is, unless Lines is
	// set: then every line is logged through it instead.
	Stdout, Stderr *os.File
	Lines          *slog.Logger
	Log            *slog.Logger
}

// Child is etcd running as a child process in a process group of its own.
type Child struct {
	cfg    ChildConfig
	proc   *os.Process
	exited chan struct{} // closed once the process has been reaped
	status ExitStatus    // valid once exited is closed
	errc   chan error

	stopping atomic.Bool
	output   sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

var _ Etcd = (*Child)(nil)

// StartChild starts etcd and waits until it answers on its client URL. If
// etcd exits first, the error wraps an *ExitError.
func StartChild(ctx context.Context, cfg ChildConfig) (*Child, error) {
	if len(cfg.Argv) == 0 {
		return nil, errors.New("no etcd command to run")
	}
	path, err := exec.LookPath(cfg.Argv[0])
	if err != nil {
		return nil, fmt.Errorf("etcd command: %w", err)
	}
	c := &Child{cfg: cfg, exited: make(chan struct{}), errc: make(chan error, 1)}
	if err := c.start(path); err != nil {
		return nil, err
	}
	cfg.Log.Info("etcd started", "pid", c.proc.Pid, "command", cfg.Argv)
	if err := c.waitReady(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		c.Stop(stopCtx)
		return nil, err
	}
	return c, nil
}

func (c *Child) start(path string) error {
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer stdin.Close()
	stdout, stderr := c.cfg.Stdout, c.cfg.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	var writeEnds []*os.File
	if c.cfg.Lines != nil {
		if stdout, err = c.logLines("stdout"); err != nil {
			return err
		}
		if stderr, err = c.logLines("stderr"); err != nil {
			stdout.Close()
			return err
		}
		writeEnds = []*os.File{stdout, stderr}
	}
	// The child has its own copies of the pipes' write ends; ours must go
	// for the readers to see the end of etcd's output.
	defer func() {
		for _, f := range writeEnds {
			f.Close()
		}
	}()
	proc, status, err := c.cfg.Reaper.Start(path, c.cfg.Argv, &os.ProcAttr{
		Env:   childEnv(c.cfg.Env),
		Files: []*os.File{stdin, stdout, stderr},
		Sys: &syscall.SysProcAttr{
			// Its own group: a terminal's Ctrl-C reaches etcdbrctl only, and
			// the whole group can be killed when etcd will not stop.
			Setpgid: true,
			// etcd must not outlive a killed etcdbrctl, which would leave it
			// unsupervised and holding the data dir.
			Pdeathsig: syscall.SIGKILL,
		},
	})
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	c.proc = proc
	go c.watch(status)
	return nil
}

// watch records the exit status and reports an exit nobody asked for.
func (c *Child) watch(status <-chan ExitStatus) {
	c.status = <-status
	close(c.exited)
	if !c.stopping.Load() {
		c.errc <- &ExitError{Status: c.status}
	}
	close(c.errc)
}

func (c *Child) waitReady(ctx context.Context) error {
	if c.cfg.ReadyTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ReadyTimeout)
		defer cancel()
	}
	// An exit ends the wait at once, even in the middle of an attempt.
	attempts, cancelAttempts := context.WithCancel(ctx)
	defer cancelAttempts()
	go func() {
		select {
		case <-c.exited:
			cancelAttempts()
		case <-attempts.Done():
		}
	}()
	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{c.cfg.ClientURL},
		TLS:         c.cfg.TLS,
		DialTimeout: 2 * time.Second,
		// Every failed attempt would log a warning; the wait reports itself.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcd client for %s: %w", c.cfg.ClientURL, err)
	}
	defer client.Close()
	started := time.Now()
	nextLog := started.Add(30 * time.Second)
	for {
		attempt, cancel := context.WithTimeout(attempts, 2*time.Second)
		_, err := client.Status(attempt, c.cfg.ClientURL)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(nextLog) {
			c.cfg.Log.Info("etcd does not answer yet", "client_url", c.cfg.ClientURL, "waited", time.Since(started).Round(time.Second), "err", err)
			nextLog = time.Now().Add(30 * time.Second)
		}
		select {
		case <-c.exited:
			return &ExitError{Status: c.status, BeforeReady: true}
		case <-ctx.Done():
			return fmt.Errorf("etcd did not answer on %s: %w (last error: %v)", c.cfg.ClientURL, context.Cause(ctx), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ClientURL is where etcdbrctl reaches etcd.
func (c *Child) ClientURL() string { return c.cfg.ClientURL }

// ClientTLS secures connections to ClientURL, or is nil.
func (c *Child) ClientTLS() *tls.Config { return c.cfg.TLS }

// Err delivers an *ExitError when etcd exits on its own; it is closed once
// the process is gone.
func (c *Child) Err() <-chan error { return c.errc }

// Pid is the process id of etcd (and of its process group).
func (c *Child) Pid() int { return c.proc.Pid }

// Signal forwards sig to etcd.
func (c *Child) Signal(sig os.Signal) error {
	if err := c.proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// Stop sends etcd SIGTERM and waits for it until ctx is done; then it kills
// etcd's whole process group. Whatever is left of the group after etcd
// exited is killed too, so nothing of it outlives the stop.
func (c *Child) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopErr = c.stop(ctx) })
	return c.stopErr
}

func (c *Child) stop(ctx context.Context) error {
	c.stopping.Store(true)
	var err error
	select {
	case <-c.exited:
	default:
		c.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-ctx.Done():
			c.cfg.Log.Warn("etcd did not stop in time; killing its process group", "pid", c.proc.Pid)
			err = fmt.Errorf("etcd did not stop in time (%w); its process group was killed", context.Cause(ctx))
			syscall.Kill(-c.proc.Pid, syscall.SIGKILL)
			<-c.exited
		}
	}
	// The group outlives its leader while any member does; its id cannot
	// be reused until then.
	syscall.Kill(-c.proc.Pid, syscall.SIGKILL)
	c.proc.Release()
	c.waitOutput()
	return err
}

// waitOutput lets the log lines of etcd's last words through, briefly: a
// leftover process of its group could hold the pipes open.
func (c *Child) waitOutput() {
	done := make(chan struct{})
	go func() { c.output.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// ExitStatus is how etcd ended; ok is false while it runs.
func (c *Child) ExitStatus() (status ExitStatus, ok bool) {
	select {
	case <-c.exited:
		return c.status, true
	default:
		return ExitStatus{}, false
	}
}
