package supervisor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier reports state changes to a service manager; the daemon calls
// it with systemd's sd_notify states (READY=1, STOPPING=1, STATUS=...).
type Notifier interface {
	Notify(state string) error
}

// SystemdNotifier sends sd_notify datagrams to $NOTIFY_SOCKET.
type SystemdNotifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // 0: systemd expects no keep-alive
}

// NewSystemdNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID
// through getenv; it returns nil when there is no socket (not started by
// systemd as Type=notify). pid is this process's id.
func NewSystemdNotifier(getenv func(string) string, pid int) (*SystemdNotifier, error) {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	if path[0] != '/' && path[0] != '@' {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q is neither a path nor an abstract socket name", path)
	}
	n := &SystemdNotifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	if usec := getenv("WATCHDOG_USEC"); usec != "" {
		v, err := strconv.ParseUint(usec, 10, 63)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("WATCHDOG_USEC %q is not a positive number of microseconds", usec)
		}
		// The watchdog is for the process WATCHDOG_PID names, when set.
		if wpid := getenv("WATCHDOG_PID"); wpid == "" || wpid == strconv.Itoa(pid) {
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n, nil
}

// Notify sends one datagram of newline-separated assignments.
func (n *SystemdNotifier) Notify(state string) error {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// WatchdogInterval is how often systemd expects WATCHDOG=1, or 0.
func (n *SystemdNotifier) WatchdogInterval() time.Duration { return n.watchdog / 2 }

// RunWatchdog sends WATCHDOG=1 every half watchdog period until ctx is
// done; it returns at once when systemd set no watchdog.
func (n *SystemdNotifier) RunWatchdog(ctx context.Context) {
	every := n.WatchdogInterval()
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.Notify("WATCHDOG=1")
		}
	}
}

// childEnv is env without the variables that belong to this process's
// service manager: etcd would answer it on its own, and systemd would
// refuse (and log) notifications from a process that is not the main one.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		switch key, _, _ := strings.Cut(kv, "="); key {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID":
		default:
			out = append(out, kv)
		}
	}
	return out
}
