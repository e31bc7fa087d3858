package backup

import "context"

// TakeFinal takes a full snapshot now and ends the schedule: Run takes no
// further scheduled snapshot, as before a planned shutdown or hibernation,
// so the final snapshot stays the newest. The schedule ends even when the
// snapshot fails, since the caller is about to stop etcd either way. Delta
// snapshots go on: a write that still comes after it is stored, not lost.
func (s *Scheduler) TakeFinal(ctx context.Context) (Manifest, error) {
	s.final.Store(true)
	return s.TakeFull(ctx)
}

// Ended reports whether a final snapshot ended the schedule.
func (s *Scheduler) Ended() bool { return s.final.Load() }
