package backup

import (
	"fmt"
	"time"
)

// GCPolicyKind names a rule for which full snapshots garbage collection keeps.
type GCPolicyKind string

const (
	// LimitBased keeps the newest MaxBackups chains.
	LimitBased GCPolicyKind = "LimitBased"
	// Exponential keeps every full snapshot of the current hour, then the
	// newest of each hour of the current day, of each of the 7 days before
	// it, and of each of the 4 weeks before those; older ones go. The
	// buckets are UTC calendar hours and days, and 7-day windows counted back
	// from the start of the current day (gardener's etcd-backup-restore
	// keeps the same ones).
	Exponential GCPolicyKind = "Exponential"
)

// exponentialDeltaRetention is how long Exponential keeps the deltas of
// chains other than the newest when no retention period is set: gardener's
// "everything from the last hour".
const exponentialDeltaRetention = time.Hour

// GCPolicy says what garbage collection keeps. The newest chain (the newest
// full snapshot with all its deltas) is always kept whole, and a chain's
// deltas never outlive its full snapshot.
type GCPolicy struct {
	Kind GCPolicyKind
	// MaxBackups is how many chains LimitBased keeps.
	MaxBackups int
	// DeltaRetention, when positive, removes the deltas of every chain but
	// the newest once the chain's newest delta is older than it. The deltas
	// of a chain go together, never the oldest first, since a delta restores
	// nothing without the ones before it. At 0, LimitBased keeps deltas as
	// long as their full snapshot and Exponential keeps them for an hour.
	DeltaRetention time.Duration
}

// Validate checks the policy.
func (p GCPolicy) Validate() error {
	switch p.Kind {
	case LimitBased:
		if p.MaxBackups < 1 {
			return fmt.Errorf("garbage collection must keep at least one full snapshot, not %d", p.MaxBackups)
		}
	case Exponential:
	default:
		return fmt.Errorf("unknown garbage collection policy %q (LimitBased or Exponential)", p.Kind)
	}
	if p.DeltaRetention < 0 {
		return fmt.Errorf("delta retention period %v is negative", p.DeltaRetention)
	}
	return nil
}

// plan lists the backups to remove, in the order to remove them: within a
// chain the newest delta first and the full snapshot last, so whatever an
// interrupted collection leaves is still a chain that restores.
func (p GCPolicy) plan(chains []Chain, now time.Time) []Entry {
	if len(chains) < 2 {
		return nil
	}
	cutoff, expire := p.deltaCutoff(now)
	withFull := 0 // chains with a full snapshot newer than the current one
	var remove []Entry
	for i := len(chains) - 2; i >= 0; i-- {
		ch := chains[i]
		if !ch.HasFull() {
			remove = appendNewestFirst(remove, ch.Deltas)
			continue
		}
		withFull++
		keep := true
		switch p.Kind {
		case LimitBased:
			keep = withFull < p.MaxBackups
		case Exponential:
			keep = keepExponential(ch.Full.Time, chains[i+1].Full.Time, now)
		}
		switch {
		case !keep:
			remove = appendNewestFirst(remove, ch.Deltas)
			remove = append(remove, ch.Full)
		case expire && len(ch.Deltas) > 0 && ch.Last().Time.Before(cutoff):
			remove = appendNewestFirst(remove, ch.Deltas)
		}
	}
	return remove
}

func (p GCPolicy) deltaCutoff(now time.Time) (time.Time, bool) {
	switch {
	case p.DeltaRetention > 0:
		return now.Add(-p.DeltaRetention), true
	case p.Kind == Exponential:
		return now.Add(-exponentialDeltaRetention), true
	}
	return time.Time{}, false
}

func appendNewestFirst(to, entries []Entry) []Entry {
	for i := len(entries) - 1; i >= 0; i-- {
		to = append(to, entries[i])
	}
	return to
}

// keepExponential decides for a full snapshot taken at t whose next newer
// full snapshot was taken at newer: it is kept when it is the newest of its
// bucket, or from the current hour.
func keepExponential(t, newer, now time.Time) bool {
	t, newer, now = t.UTC(), newer.UTC(), now.UTC()
	today := now.Truncate(24 * time.Hour)
	week := 7 * 24 * time.Hour
	switch {
	case !t.Before(today):
		if t.Truncate(time.Hour).Equal(now.Truncate(time.Hour)) {
			return true
		}
		return !t.Truncate(time.Hour).Equal(newer.Truncate(time.Hour))
	case !t.Before(today.Add(-week)):
		return !t.Truncate(24 * time.Hour).Equal(newer.Truncate(24 * time.Hour))
	case !t.Before(today.Add(-34 * 24 * time.Hour)):
		return weekIndex(t, today) != weekIndex(newer, today)
	}
	return false
}

// weekIndex counts 7-day windows back from today: 0 for the 7 days before
// it (and today), 1 for the 7 before those, and so on.
func weekIndex(t, today time.Time) int64 {
	back := today.Sub(t)
	if back <= 0 {
		return 0
	}
	return int64((back - 1) / (7 * 24 * time.Hour))
}
