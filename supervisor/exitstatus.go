package supervisor

import (
	"fmt"
	"syscall"
)

// ExitStatus is how a child process ended.
type ExitStatus struct {
	Code   int            // exit code, when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

func exitStatusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Signal: ws.Signal()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// ExitCode is the code a shell would report: the exit code, or 128 plus
// the number of the signal that killed the process.
func (s ExitStatus) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// Success says whether the process exited with code 0.
func (s ExitStatus) Success() bool { return s.Signal == 0 && s.Code == 0 }

func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %d (%v)", int(s.Signal), s.Signal)
	}
	return fmt.Sprintf("exited with code %d", s.Code)
}

// ExitError is etcd's child process ending on its own. Its ExitCode is what
// etcdbrctl exits with when it gives up.
type ExitError struct {
	Status      ExitStatus
	BeforeReady bool // it never answered on its client URL
}

func (e *ExitError) Error() string {
	if e.BeforeReady {
		return "etcd " + e.Status.String() + " before it was ready"
	}
	return "etcd " + e.Status.String()
}

// ExitCode is the code etcdbrctl should exit with.
func (e *ExitError) ExitCode() int { return e.Status.ExitCode() }
