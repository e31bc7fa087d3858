package datadir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// MarshalText makes a Mode read well in JSON reports.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	*m = v
	return err
}

// MarshalText makes a State read well in JSON reports.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *State) UnmarshalText(b []byte) error {
	for _, v := range []State{Empty, Valid, Invalid, InUse, Foreign} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("datadir: unknown state %q", b)
}

// ValidateIn runs a check in the child process cmd, which must print the
// Report as JSON on stdout and exit 0 (WriteReport does the printing).
//
// Why a child: bbolt checks a database in goroutines of its own, where a
// damaged page can panic beyond any recover. In a child, such a crash
// becomes an Invalid report instead of ending etcdbrctl, which could then
// never repair the directory.
func ValidateIn(ctx context.Context, cmd *exec.Cmd, dir string, mode Mode) (Report, error) {
	var stdout bytes.Buffer
	stderr := &headBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	runErr := cmd.Run()
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}
	if runErr == nil {
		var r Report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return Report{}, fmt.Errorf("data dir check printed no report: %w", err)
		}
		return r, nil
	}
	var exit *exec.ExitError
	if !errors.As(runErr, &exit) {
		return Report{}, fmt.Errorf("start data dir check: %w", runErr)
	}
	if crash := crashLine(stderr.String()); crash != "" || !exit.Exited() {
		if crash == "" {
			crash = exit.String()
		}
		return Report{Dir: dir, Mode: mode, State: Invalid,
			Reason: "member/snap/db: the database check crashed: " + crash}, nil
	}
	return Report{}, fmt.Errorf("data dir check failed (%v): %s", runErr, strings.TrimSpace(stderr.String()))
}

// WriteReport prints r for ValidateIn.
func WriteReport(w io.Writer, r Report) error {
	return json.NewEncoder(w).Encode(r)
}

// crashLine finds the first line of a Go runtime crash in a process's stderr.
func crashLine(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") ||
			strings.HasPrefix(line, "unexpected fault address") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// headBuffer keeps the start of what is written, up to max bytes: a crash's
// first lines name its cause; goroutine dumps after them are long.
type headBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *headBuffer) Write(p []byte) (int, error) {
	if room := t.max - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (t *headBuffer) String() string { return t.buf.String() }
