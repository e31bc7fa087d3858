package backup

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		ok     bool
		period time.Duration
	}{
		{"0 */1 * * *", true, time.Hour},
		{"*/5 * * * *", true, 5 * time.Minute},
		{"0 0 * * *", true, 24 * time.Hour},
		{"not cron", false, 0},
		{"61 * * * *", false, 0},
		{"* * * *", false, 0},
		{"", false, 0},
	} {
		s, err := ParseSchedule(tc.expr)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSchedule(%q) error = %v, want ok=%v", tc.expr, err, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		at := time.Date(2026, 11, 26, 7, 2, 19, 0, time.UTC)
		if got := s.Period(at); got != tc.period {
			t.Errorf("%q: period %v, want %v", tc.expr, got, tc.period)
		}
		if next := s.Next(at); !next.After(at) {
			t.Errorf("%q: next tick %v is not after %v", tc.expr, next, at)
		}
	}
}
