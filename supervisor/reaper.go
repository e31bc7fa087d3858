package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper owns every wait for the child processes it starts, and, when it
// reaps orphans (as PID 1 or a subreaper), for every descendant the kernel
// hands over to this process.
//
// A reaper calling wait4(-1) races with any other code waiting for a
// specific child (exec.Cmd.Wait): it can collect that child's exit status
// first. Here nothing else waits for the children the Reaper starts, and
// the race with its own registration is closed by one mutex: a child is
// started and registered under the lock, and every wait4 happens under it,
// so no status can be collected before its owner is known. Code that must
// wait for a child itself (exec.Cmd.Run) holds the Reaper (Hold) meanwhile.
type Reaper struct {
	log     *slog.Logger
	orphans bool

	mu    sync.Mutex
	owned map[int]chan ExitStatus // by pid; each gets exactly one status
	holds int                     // while > 0, no wait4(-1)

	wake chan struct{}
}

// NewReaper prepares a reaper; orphans says whether it also reaps
// descendants that are not its own children (PID 1 or a subreaper). Run
// must be running for statuses to arrive.
func NewReaper(orphans bool, log *slog.Logger) *Reaper {
	return &Reaper{log: log, orphans: orphans, owned: map[int]chan ExitStatus{}, wake: make(chan struct{}, 1)}
}

// BecomeSubreaper makes this process the reaper of its orphaned
// descendants, as PID 1 is (PR_SET_CHILD_SUBREAPER).
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a child subreaper: %w", err)
	}
	return nil
}

// Run reaps on every SIGCHLD until ctx is done.
func (r *Reaper) Run(ctx context.Context) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	// A signal can be coalesced with one already pending; a slow tick
	// makes sure nothing stays a zombie for long regardless.
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		r.reap()
		select {
		case <-ctx.Done():
			return
		case <-sigchld:
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// Start starts a process and registers it; its exit status arrives on the
// returned channel (buffered) once Run reaps it. Nobody else may wait for it.
func (r *Reaper) Start(path string, argv []string, attr *os.ProcAttr) (*os.Process, <-chan ExitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan ExitStatus, 1)
	r.owned[p.Pid] = done
	r.poke()
	return p, done, nil
}

// Hold stops the reaping of orphans until release is called, for code that
// waits for a child of its own (os/exec).
func (r *Reaper) Hold() (release func()) {
	r.mu.Lock()
	r.holds++
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.holds--
			r.mu.Unlock()
			r.poke()
		})
	}
}

func (r *Reaper) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// reap collects every exited child it may: the registered ones by pid,
// then, when reaping orphans and not held, any other.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, done := range r.owned {
		if ws, ok := wait4(pid); ok {
			r.deliver(pid, done, ws)
		}
	}
	if !r.orphans || r.holds > 0 {
		return
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if done, ok := r.owned[pid]; ok {
			r.deliver(pid, done, syscall.WaitStatus(ws))
			continue
		}
		r.log.Debug("reaped an orphaned process", "pid", pid, "status", exitStatusOf(syscall.WaitStatus(ws)).String())
	}
}

func (r *Reaper) deliver(pid int, done chan ExitStatus, ws syscall.WaitStatus) {
	delete(r.owned, pid)
	done <- exitStatusOf(ws)
}

// wait4 collects pid's status if it has exited. A pid that is gone
// (ECHILD) counts as exited with an unknown status, so no owner waits forever.
func wait4(pid int) (syscall.WaitStatus, bool) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return syscall.WaitStatus(255 << 8), true
		case err != nil || got != pid:
			return 0, false
		}
		return syscall.WaitStatus(ws), true
	}
}
