package backup

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// RestoreProgress is a restore's state, reported while it runs.
type RestoreProgress struct {
	Phase   string // "download", "member", "apply", "sync" or "done"
	Elapsed time.Duration

	StoredBytes int64 // stored bytes fetched so far, of StoredTotal
	StoredTotal int64

	FromRevision int64 // the full snapshot's revision
	Revision     int64 // applied so far
	ToRevision   int64 // the target
	Events       int64 // delta events applied
	Applying     time.Duration
}

// String is one line: what is done, how fast, and how long is left.
func (p RestoreProgress) String() string {
	s := fmt.Sprintf("restore %s: %s of %s", p.Phase, sizeString(p.StoredBytes), sizeString(p.StoredTotal))
	if secs := p.Elapsed.Seconds(); secs > 0 {
		s += fmt.Sprintf(" (%s/s)", sizeString(int64(float64(p.StoredBytes)/secs)))
	}
	if p.ToRevision > p.FromRevision {
		s += fmt.Sprintf(", revision %d of %d", p.Revision, p.ToRevision)
		if secs := p.Applying.Seconds(); secs > 0 {
			s += fmt.Sprintf(" (%.0f revisions/s, %.0f events/s)", float64(p.Revision-p.FromRevision)/secs, float64(p.Events)/secs)
		}
	}
	if left, ok := p.Left(); ok {
		s += fmt.Sprintf(", %s left", left.Round(time.Second))
	}
	return s
}

// Left estimates the time to the end: from the revisions still to apply
// once applying has started, from the bytes still to fetch before.
func (p RestoreProgress) Left() (time.Duration, bool) {
	switch {
	case p.Phase == "apply" && p.Applying > time.Second && p.Revision > p.FromRevision:
		rate := float64(p.Revision-p.FromRevision) / p.Applying.Seconds()
		return time.Duration(float64(p.ToRevision-p.Revision) / rate * float64(time.Second)), true
	case p.Phase == "download" && p.Elapsed > time.Second && p.StoredBytes > 0:
		rate := float64(p.StoredBytes) / p.Elapsed.Seconds()
		return time.Duration(float64(p.StoredTotal-p.StoredBytes) / rate * float64(time.Second)), true
	}
	return 0, false
}

// TerminalProgress redraws one status line on w (a terminal).
func TerminalProgress(w io.Writer) func(RestoreProgress) {
	return func(p RestoreProgress) {
		end := ""
		if p.Phase == "done" {
			end = "\n"
		}
		fmt.Fprintf(w, "\r%s\x1b[K%s", p, end)
	}
}

// LogProgress logs a line at most once per every, and the final one.
func LogProgress(log *slog.Logger, every time.Duration) func(RestoreProgress) {
	var last time.Duration
	return func(p RestoreProgress) {
		if p.Phase != "done" && last > 0 && p.Elapsed-last < every {
			return
		}
		last = max(p.Elapsed, 1)
		args := []any{"phase", p.Phase, "stored_bytes", p.StoredBytes, "stored_total", p.StoredTotal,
			"revision", p.Revision, "to_revision", p.ToRevision, "events", p.Events}
		if left, ok := p.Left(); ok {
			args = append(args, "left", left.Round(time.Second).String())
		}
		log.Info("restore progress", args...)
	}
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
