package supervisor

import (
	"fmt"
	"time"
)

// RestartMode says when etcd runs again after it ended on its own.
type RestartMode string

const (
	RestartOnFailure RestartMode = "on-failure" // after a non-zero exit or a killing signal
	RestartAlways    RestartMode = "always"     // after any exit
	RestartNever     RestartMode = "never"
)

// ParseRestartMode reads a --restart value.
func ParseRestartMode(s string) (RestartMode, error) {
	switch m := RestartMode(s); m {
	case RestartOnFailure, RestartAlways, RestartNever:
		return m, nil
	}
	return "", fmt.Errorf("restart mode %q is not one of on-failure, always, never", s)
}

// RestartPolicy bounds restarts: an exponential backoff that resets after
// a healthy run, and at most MaxRestarts within Window.
type RestartPolicy struct {
	Mode        RestartMode
	MaxRestarts int
	Window      time.Duration
	// FirstBackoff doubles after each restart up to MaxBackoff; zero values
	// mean 1s and 30s.
	FirstBackoff, MaxBackoff time.Duration
	// HealthyAfter is how long etcd must run after it was ready for the
	// backoff to start again from FirstBackoff; zero means 60s.
	HealthyAfter time.Duration
}

// restarts tracks one daemon's restarts under a policy.
type restarts struct {
	policy  RestartPolicy
	backoff time.Duration
	times   []time.Time // of the restarts within the window
}

func newRestarts(p RestartPolicy) *restarts {
	if p.FirstBackoff <= 0 {
		p.FirstBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.MaxBackoff < p.FirstBackoff {
		p.MaxBackoff = p.FirstBackoff
	}
	if p.HealthyAfter <= 0 {
		p.HealthyAfter = 60 * time.Second
	}
	return &restarts{policy: p}
}

// next decides what follows an exit at now, after etcd had been ready for
// healthyFor: a restart after delay, or none with the reason why.
func (r *restarts) next(status ExitStatus, healthyFor time.Duration, now time.Time) (delay time.Duration, restart bool, why string) {
	switch {
	case r.policy.Mode == RestartNever:
		return 0, false, "--restart never"
	case r.policy.Mode == RestartOnFailure && status.Success():
		return 0, false, "it exited with code 0 and --restart is on-failure"
	}
	kept := r.times[:0]
	for _, t := range r.times {
		if now.Sub(t) < r.policy.Window {
			kept = append(kept, t)
		}
	}
	r.times = kept
	if len(r.times) >= r.policy.MaxRestarts {
		return 0, false, fmt.Sprintf("it was restarted %d times within %s (--max-restarts, --restart-window)",
			len(r.times), r.policy.Window)
	}
	if healthyFor >= r.policy.HealthyAfter || r.backoff == 0 {
		r.backoff = r.policy.FirstBackoff
	} else {
		r.backoff = min(2*r.backoff, r.policy.MaxBackoff)
	}
	r.times = append(r.times, now)
	return r.backoff, true, ""
}
