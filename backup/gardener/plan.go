package gardener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"etcdbrctl/backup"
	"etcdbrctl/providers"
)

// formatGardener marks the manifests PlanRestore makes up from object names.
const formatGardener = "gardener"

// PlanRestore plans a restore from the gardener backups in store: the
// newest chain (a full snapshot and the deltas after it without a gap)
// that reaches the target. A revision target is restored exactly; a time
// target restores the newest delta created at or before it. Keys that
// used leases come back without them, as gardener's own restore does: its
// backups do not record leases. It fails with backup.ErrNoFull when the
// store holds no gardener full snapshot.
func PlanRestore(ctx context.Context, store providers.Store, target backup.Target) (backup.Plan, error) {
	snaps, err := List(ctx, store)
	if err != nil {
		return backup.Plan{}, err
	}
	var chains []Chain
	for i, s := range snaps {
		if s.Kind == KindFull {
			c, _ := LatestChain(snaps[:i+1+countDeltasAfter(snaps[i+1:])])
			chains = append(chains, c)
		}
	}
	if len(chains) == 0 {
		return backup.Plan{}, fmt.Errorf("no gardener backup under %v: %w", store, backup.ErrNoFull)
	}
	for i := len(chains) - 1; i >= 0; i-- {
		c := chains[i]
		switch {
		case !target.Time.IsZero():
			if c.Full.Time.After(target.Time) {
				continue
			}
			var ds []Snapshot
			for _, d := range c.Deltas {
				if d.Time.After(target.Time) {
					break
				}
				ds = append(ds, d)
			}
			c.Deltas = ds
			return plan(store, c, c.LastRevision()), nil
		case target.Revision > 0:
			if target.Revision < c.Full.LastRevision || target.Revision > c.LastRevision() {
				continue
			}
			var ds []Snapshot
			for _, d := range c.Deltas {
				if d.StartRevision > target.Revision {
					break
				}
				ds = append(ds, d)
			}
			c.Deltas = ds
			return plan(store, c, target.Revision), nil
		default:
			if len(c.Unreachable) > 0 {
				return backup.Plan{}, fmt.Errorf("%w: gardener backups after %s do not follow on (next: %s); restore with --to-revision %d to accept the loss",
					backup.ErrNotCovered, c.Deltas[len(c.Deltas)-1], c.Unreachable[0], c.LastRevision())
			}
			return plan(store, c, c.LastRevision()), nil
		}
	}
	var ranges []string
	for _, c := range chains {
		ranges = append(ranges, fmt.Sprintf("%d-%d", c.Full.LastRevision, c.LastRevision()))
	}
	return backup.Plan{}, fmt.Errorf("%w: no gardener backup chain reaches %s (chains cover revisions %s)",
		backup.ErrNotCovered, target, strings.Join(ranges, ", "))
}

// countDeltasAfter counts the snapshots before the next full one.
func countDeltasAfter(snaps []Snapshot) int {
	for i, s := range snaps {
		if s.Kind == KindFull {
			return i
		}
	}
	return len(snaps)
}

func plan(store providers.Store, c Chain, rev int64) backup.Plan {
	p := backup.Plan{Full: manifest(c.Full), Revision: rev, Source: source{store}}
	for _, d := range c.Deltas {
		p.Deltas = append(p.Deltas, manifest(d))
	}
	return p
}

// manifest describes a gardener snapshot as far as its name tells.
func manifest(s Snapshot) backup.Manifest {
	m := backup.Manifest{
		Format: formatGardener, Revision: s.LastRevision,
		Time: s.Time, Finished: s.Time, Data: s.Key, Compression: strings.TrimPrefix(s.Compression, "."),
	}
	if s.Kind == KindFull {
		m.Kind = backup.KindFull
	} else {
		m.Kind, m.FromRevision = backup.KindDelta, s.StartRevision
	}
	return m
}

// source reads gardener objects for backup.Restore.
type source struct{ store providers.Store }

func (s source) OpenFull(ctx context.Context, m backup.Manifest) (io.ReadCloser, error) {
	snap, err := ParseKey(m.Data)
	if err != nil {
		return nil, err
	}
	return OpenFull(ctx, s.store, snap)
}

func (s source) OpenDelta(ctx context.Context, m backup.Manifest) (backup.RecordReader, error) {
	snap, err := ParseKey(m.Data)
	if err != nil {
		return nil, err
	}
	r, err := OpenDelta(ctx, s.store, snap)
	if err != nil {
		return nil, err
	}
	return records{r}, nil
}

// records turns gardener's events into delta records.
type records struct{ r *DeltaReader }

func (r records) Next() (backup.DeltaRecord, error) {
	ev, _, err := r.r.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return backup.DeltaRecord{}, io.EOF
		}
		return backup.DeltaRecord{}, err
	}
	return backup.DeltaRecord{Event: ev}, nil
}

func (r records) Close() error { return r.r.Close() }
