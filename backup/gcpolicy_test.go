package backup

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// at builds a catalog entry: kind F or D, revisions, time.
type at struct {
	spec string // "F100" or "D101-150"
	t    time.Time
}

func catalogOf(entries ...at) Catalog {
	var c Catalog
	for _, e := range entries {
		c.Backups = append(c.Backups, synth(e.t, e.spec)...)
	}
	sortBackups(c.Backups)
	return c
}

func short(es []Entry) string {
	var s []string
	for _, e := range es {
		if e.Kind == KindFull {
			s = append(s, fmt.Sprintf("F%d", e.Revision))
		} else {
			s = append(s, fmt.Sprintf("D%d-%d", e.FromRevision, e.Revision))
		}
	}
	return strings.Join(s, " ")
}

func TestGCPlanLimitBased(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	h := func(hoursAgo float64) time.Time { return now.Add(-time.Duration(hoursAgo * float64(time.Hour))) }
	four := catalogOf(
		at{"F100", h(4)}, at{"D101-110", h(3.9)}, at{"D111-120", h(3.8)},
		at{"F200", h(3)}, at{"D201-210", h(2.9)},
		at{"F300", h(2)}, at{"D301-310", h(1.9)}, at{"D311-320", h(1.1)},
		at{"F400", h(1)}, at{"D401-410", h(0.9)}, at{"D411-420", h(0.1)},
	)
	for _, tc := range []struct {
		name   string
		cat    Catalog
		policy GCPolicy
		want   string
	}{
		{"keep two chains", four, GCPolicy{Kind: LimitBased, MaxBackups: 2}, "D201-210 F200 D111-120 D101-110 F100"},
		{"keep one chain", four, GCPolicy{Kind: LimitBased, MaxBackups: 1}, "D311-320 D301-310 F300 D201-210 F200 D111-120 D101-110 F100"},
		{"keep more than there are", four, GCPolicy{Kind: LimitBased, MaxBackups: 9}, ""},
		// The chain of F300 ends 1.1 h ago, so its deltas go as a whole;
		// the newest chain keeps its deltas older than the retention.
		{"retention", four, GCPolicy{Kind: LimitBased, MaxBackups: 9, DeltaRetention: time.Hour},
			"D311-320 D301-310 D201-210 D111-120 D101-110"},
		// A chain whose newest delta is young keeps its older ones too.
		{"retention keeps whole chains", four, GCPolicy{Kind: LimitBased, MaxBackups: 9, DeltaRetention: 75 * time.Minute},
			"D201-210 D111-120 D101-110"},
		{"single chain", catalogOf(at{"F1", h(100)}, at{"D2-3", h(99)}), GCPolicy{Kind: LimitBased, MaxBackups: 1, DeltaRetention: time.Minute}, ""},
		{"deltas without a full snapshot", catalogOf(at{"D5-9", h(3)}, at{"D10-12", h(2.5)}, at{"F20", h(2)}),
			GCPolicy{Kind: LimitBased, MaxBackups: 5}, "D10-12 D5-9"},
		{"only deltas", catalogOf(at{"D5-9", h(3)}), GCPolicy{Kind: LimitBased, MaxBackups: 1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := short(tc.policy.plan(tc.cat.Chains(), now)); got != tc.want {
				t.Errorf("removes %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGCPlanExponential(t *testing.T) {
	// A Tuesday afternoon, UTC.
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	day := 24 * time.Hour
	today := now.Truncate(day)
	cat := catalogOf(
		at{"F10", today.Add(-40 * day)},                // older than 4 weeks: goes
		at{"F20", today.Add(-20*day + time.Hour)},      // week window 2, older of two: goes
		at{"F21", today.Add(-19*day + time.Hour)},      // week window 2 (days 15-21 back): newest, kept
		at{"F25", today.Add(-10 * day)},                // week window 1: kept
		at{"F30", today.Add(-3*day + 9*time.Hour)},     // a day with two: the older goes
		at{"D31-39", today.Add(-3*day + 10*time.Hour)}, // goes with it
		at{"F40", today.Add(-3*day + 20*time.Hour)},    // the newest of that day: kept
		at{"F50", today.Add(-1*day + 23*time.Hour)},    // yesterday: kept
		at{"D51-59", today.Add(-1*day + 23*time.Hour + 10*time.Minute)},
		at{"F60", today.Add(9 * time.Hour)},                // today, hour 9, older: goes
		at{"F61", today.Add(9*time.Hour + 40*time.Minute)}, // hour 9 newest: kept
		at{"F70", now.Add(-80 * time.Minute)},              // 13:10, older in hour 13: goes
		at{"D71-79", now.Add(-75 * time.Minute)},           // goes with it
		at{"F80", now.Add(-50 * time.Minute)},              // 13:40, newest of hour 13: kept
		at{"D81-89", now.Add(-70 * time.Minute)},           // (time order puts it before F80: F70's chain)
		at{"F90", now.Add(-25 * time.Minute)},              // 14:05, current hour: kept
		at{"D91-95", now.Add(-24 * time.Minute)},           // younger than an hour: kept
		at{"F100", now.Add(-20 * time.Minute)},             // newest chain
		at{"D101-110", now.Add(-19 * time.Minute)},
	)
	for _, tc := range []struct {
		name   string
		policy GCPolicy
		want   string
	}{
		{"default delta retention of an hour", GCPolicy{Kind: Exponential},
			"D81-89 D71-79 F70 F60 D51-59 D31-39 F30 F20 F10"},
		{"longer delta retention", GCPolicy{Kind: Exponential, DeltaRetention: 48 * time.Hour},
			"D81-89 D71-79 F70 F60 D31-39 F30 F20 F10"},
		{"shorter delta retention", GCPolicy{Kind: Exponential, DeltaRetention: 10 * time.Minute},
			"D91-95 D81-89 D71-79 F70 F60 D51-59 D31-39 F30 F20 F10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := short(tc.policy.plan(cat.Chains(), now)); got != tc.want {
				t.Errorf("removes %q\nwant     %q", got, tc.want)
			}
		})
	}
}

func TestKeepExponentialCurrentHour(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 59, 0, 0, time.UTC)
	// Two in the current hour: both kept, whatever is newer.
	if !keepExponential(now.Add(-50*time.Minute), now.Add(-40*time.Minute), now) {
		t.Error("a full snapshot of the current hour was not kept")
	}
	// The same minute one hour earlier: not the newest of its hour.
	if keepExponential(now.Add(-110*time.Minute), now.Add(-100*time.Minute), now) {
		t.Error("an older full snapshot of the previous hour was kept")
	}
}

func TestGCPolicyValidate(t *testing.T) {
	for _, p := range []GCPolicy{
		{Kind: LimitBased, MaxBackups: 0},
		{Kind: "Sometimes", MaxBackups: 3},
		{Kind: Exponential, DeltaRetention: -time.Second},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v was accepted", p)
		}
	}
}
