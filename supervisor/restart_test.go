package supervisor

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRestartPolicy(t *testing.T) {
	crash := ExitStatus{Signal: syscall.SIGKILL}
	clean := ExitStatus{}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		status  ExitStatus
		healthy time.Duration
		at      time.Duration // since t0
		delay   time.Duration
		restart bool
		why     string
	}
	for _, tc := range []struct {
		name   string
		policy RestartPolicy
		steps  []step
	}{
		{"backoff doubles to its maximum", RestartPolicy{Mode: RestartOnFailure, MaxRestarts: 100, Window: time.Hour}, []step{
			{crash, 0, 0, time.Second, true, ""},
			{crash, 0, time.Second, 2 * time.Second, true, ""},
			{crash, 0, 3 * time.Second, 4 * time.Second, true, ""},
			{crash, 0, 7 * time.Second, 8 * time.Second, true, ""},
			{crash, 0, 15 * time.Second, 16 * time.Second, true, ""},
			{crash, 0, 31 * time.Second, 30 * time.Second, true, ""},
			{crash, 0, 61 * time.Second, 30 * time.Second, true, ""},
		}},
		{"a healthy minute resets the backoff", RestartPolicy{Mode: RestartOnFailure, MaxRestarts: 100, Window: time.Hour}, []step{
			{crash, 0, 0, time.Second, true, ""},
			{crash, 59 * time.Second, time.Minute, 2 * time.Second, true, ""},
			{crash, 0, 2 * time.Minute, 4 * time.Second, true, ""},
			{crash, time.Minute, 3 * time.Minute, time.Second, true, ""},
		}},
		{"the budget runs out within the window, and refills after it", RestartPolicy{Mode: RestartAlways, MaxRestarts: 2, Window: time.Minute}, []step{
			{crash, 0, 0, time.Second, true, ""},
			{clean, 0, 10 * time.Second, 2 * time.Second, true, ""},
			{crash, 0, 20 * time.Second, 0, false, "restarted 2 times within 1m0s"},
			{crash, 0, 61 * time.Second, 4 * time.Second, true, ""},
		}},
		{"on-failure stops after a clean exit", RestartPolicy{Mode: RestartOnFailure, MaxRestarts: 5, Window: time.Minute}, []step{
			{ExitStatus{Code: 3}, 0, 0, time.Second, true, ""},
			{clean, 0, time.Second, 0, false, "code 0"},
		}},
		{"never", RestartPolicy{Mode: RestartNever, MaxRestarts: 5, Window: time.Minute}, []step{
			{crash, 0, 0, 0, false, "never"},
		}},
		{"a custom first backoff", RestartPolicy{Mode: RestartAlways, MaxRestarts: 5, Window: time.Minute, FirstBackoff: 10 * time.Millisecond, MaxBackoff: 15 * time.Millisecond}, []step{
			{crash, 0, 0, 10 * time.Millisecond, true, ""},
			{crash, 0, time.Second, 15 * time.Millisecond, true, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestarts(tc.policy)
			for i, s := range tc.steps {
				delay, restart, why := r.next(s.status, s.healthy, t0.Add(s.at))
				if delay != s.delay || restart != s.restart || !strings.Contains(why, s.why) {
					t.Fatalf("step %d: got (%v, %v, %q), want (%v, %v, %q)", i, delay, restart, why, s.delay, s.restart, s.why)
				}
			}
		})
	}
}

func TestParseRestartMode(t *testing.T) {
	for _, s := range []string{"on-failure", "always", "never"} {
		if m, err := ParseRestartMode(s); err != nil || string(m) != s {
			t.Errorf("%s: %v %v", s, m, err)
		}
	}
	if _, err := ParseRestartMode("sometimes"); err == nil {
		t.Error("sometimes accepted")
	}
}
