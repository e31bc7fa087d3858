package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"etcdbrctl/providers"
)

// Target names the state a restore produces. The zero Target is the newest
// state the backups hold. At most one of Revision and Time is set.
type Target struct {
	// Revision asks for exactly the state at this revision.
	Revision int64
	// Time asks for the newest state the backups prove was reached at or
	// before it (see doc/format.md, "Point-in-time restore").
	Time time.Time
}

func (t Target) String() string {
	switch {
	case t.Revision > 0:
		return fmt.Sprintf("revision %d", t.Revision)
	case !t.Time.IsZero():
		return "time " + t.Time.UTC().Format(time.RFC3339Nano)
	}
	return "the latest state"
}

// Plan is what a restore reads: one full snapshot, then delta segments in
// the order they are applied, up to Revision.
type Plan struct {
	Full     Manifest
	Deltas   []Manifest
	Revision int64
	// Source reads the objects of backups another tool wrote; nil for
	// this format's own.
	Source Source
}

// StoredBytes is what the plan downloads.
func (p Plan) StoredBytes() int64 {
	n := p.Full.Size
	for _, d := range p.Deltas {
		n += d.Size
	}
	return n
}

// ErrNoFull is returned when the store holds no full snapshot to start from.
var ErrNoFull = errors.New("the store holds no full snapshot")

// ErrNotCovered matches every error saying that no chain of backups reaches
// the requested point.
var ErrNotCovered = errors.New("no backup chain reaches the requested point")

// PlanRestore picks, from what the store holds, the full snapshot and the
// delta segments that reach target.
func PlanRestore(ctx context.Context, store providers.Store, target Target) (Plan, error) {
	if target.Revision < 0 || (target.Revision > 0 && !target.Time.IsZero()) {
		return Plan{}, fmt.Errorf("restore target: give a positive revision or a time, not both")
	}
	c, err := ReadCatalog(ctx, store)
	if err != nil {
		return Plan{}, err
	}
	p := planner{ctx: ctx, store: store, deltas: deltasByFrom(c)}
	fulls := c.Fulls()
	if len(fulls) == 0 {
		return Plan{}, fmt.Errorf("%v: %w", store, ErrNoFull)
	}
	switch {
	case target.Revision > 0:
		return p.toRevision(fulls, target.Revision)
	case !target.Time.IsZero():
		return p.toTime(fulls, target.Time)
	default:
		return p.latest(fulls[len(fulls)-1])
	}
}

type planner struct {
	ctx    context.Context
	store  providers.Store
	deltas []*Entry // sorted by FromRevision, then time
}

func deltasByFrom(c Catalog) []*Entry {
	var out []*Entry
	for i := range c.Backups {
		if c.Backups[i].Kind == KindDelta {
			e := c.Backups[i]
			out = append(out, &e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FromRevision < out[j].FromRevision })
	return out
}

// chain is a full snapshot and the delta segments that continue it without
// a gap. gap, if set, is a segment of the same history that starts beyond
// the chain's end: the revisions between are missing.
type chain struct {
	full   *Entry
	deltas []*Entry
	end    int64
	gap    *Entry
}

func (c chain) String() string {
	s := fmt.Sprintf("revisions %d-%d (full snapshot %s", c.full.Revision, c.end, c.full.Key)
	if n := len(c.deltas); n > 0 {
		s += fmt.Sprintf(" and %d delta segments", n)
	}
	s += ")"
	if c.gap != nil {
		s += fmt.Sprintf(", then a gap: revision %d is in no segment, %s starts at %d", c.end+1, c.gap.Key, c.gap.FromRevision)
	}
	return s
}

// chainOf follows full with the segments that continue it. A segment
// continues the chain when it holds the next revision needed (it may also
// hold earlier ones, which are skipped) and it belongs to the same history:
// it was finished after the full snapshot started. Segments of a history
// abandoned by an earlier restore were all finished before that restore,
// so before any full snapshot taken after it.
func (p *planner) chainOf(full *Entry) (chain, error) {
	c := chain{full: full, end: full.Revision}
	var active []*Entry
	i := 0
	for {
		next := c.end + 1
		for ; i < len(p.deltas) && p.deltas[i].FromRevision <= next; i++ {
			active = append(active, p.deltas[i])
		}
		var best *Entry
		kept := active[:0]
		for _, d := range active {
			if d.Revision < next {
				continue
			}
			kept = append(kept, d)
			ok, err := p.belongs(d, full)
			if err != nil {
				return chain{}, err
			}
			if ok && (best == nil || d.Revision > best.Revision || (d.Revision == best.Revision && d.Time.After(best.Time))) {
				best = d
			}
		}
		active = kept
		if best == nil {
			break
		}
		c.deltas = append(c.deltas, best)
		c.end = best.Revision
	}
	for _, d := range p.deltas[i:] {
		if !d.Time.Before(full.Time) {
			c.gap = d
			break
		}
	}
	return c, nil
}

func (p *planner) belongs(d, full *Entry) (bool, error) {
	if !d.Time.Before(full.Time) {
		return true, nil
	}
	// Started before the full snapshot: it belongs if it was still being
	// written when the snapshot started.
	m, err := p.manifest(d)
	if err != nil {
		return false, err
	}
	return !m.Finished.Before(full.Time), nil
}

func (p *planner) manifest(e *Entry) (*Manifest, error) {
	if e.Manifest == nil {
		m, err := ReadManifest(p.ctx, p.store, e.Key)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", e.Key, err)
		}
		e.Manifest = &m
	}
	return e.Manifest, nil
}

// plan loads the manifests of the full snapshot and of the segments up to
// the one holding rev.
func (p *planner) plan(c chain, rev int64) (Plan, error) {
	var use []Entry
	for _, d := range c.deltas {
		if d.FromRevision > rev {
			break
		}
		use = append(use, *d)
	}
	full := *c.full
	all := append([]Entry{full}, use...)
	var missing []Entry
	var at []int
	for i, e := range all {
		if e.Manifest == nil {
			missing = append(missing, e)
			at = append(at, i)
		}
	}
	if err := LoadManifests(p.ctx, p.store, missing); err != nil {
		return Plan{}, err
	}
	for j, i := range at {
		all[i].Manifest = missing[j].Manifest
	}
	plan := Plan{Full: *all[0].Manifest, Revision: rev}
	for _, e := range all[1:] {
		plan.Deltas = append(plan.Deltas, *e.Manifest)
	}
	if plan.Full.Kind != KindFull {
		return Plan{}, fmt.Errorf("%s: %w: not a full snapshot", full.Key, ErrCorrupt)
	}
	return plan, nil
}

func (p *planner) latest(full Entry) (Plan, error) {
	c, err := p.chainOf(&full)
	if err != nil {
		return Plan{}, err
	}
	if c.gap != nil {
		return Plan{}, fmt.Errorf("%w: the newest chain covers %s; restoring past the gap would lose the changes in it: pass --to-revision %d to restore up to the gap",
			ErrNotCovered, c, c.end)
	}
	return p.plan(c, c.end)
}

func (p *planner) toRevision(fulls []Entry, rev int64) (Plan, error) {
	var seen []string
	for i := len(fulls) - 1; i >= 0; i-- {
		full := fulls[i]
		if full.Revision > rev {
			seen = append(seen, fmt.Sprintf("revisions %d- (full snapshot %s)", full.Revision, full.Key))
			continue
		}
		c, err := p.chainOf(&full)
		if err != nil {
			return Plan{}, err
		}
		if c.end >= rev {
			return p.plan(c, rev)
		}
		seen = append(seen, c.String())
	}
	return Plan{}, fmt.Errorf("%w: revision %d is in no chain; the chains cover: %s", ErrNotCovered, rev, strings.Join(seen, "; "))
}

func (p *planner) toTime(fulls []Entry, at time.Time) (Plan, error) {
	for i := len(fulls) - 1; i >= 0; i-- {
		full := fulls[i]
		if full.Time.After(at) {
			continue
		}
		fm, err := p.manifest(&full)
		if err != nil {
			return Plan{}, err
		}
		if fm.Finished.After(at) {
			continue
		}
		c, err := p.chainOf(&full)
		if err != nil {
			return Plan{}, err
		}
		rev := full.Revision
		for _, d := range c.deltas {
			if d.Time.After(at) {
				break
			}
			// Its first change was seen by its time.
			rev = max(rev, d.FromRevision)
			m, err := p.manifest(d)
			if err != nil {
				return Plan{}, err
			}
			if !m.Finished.After(at) {
				rev = max(rev, d.Revision)
			}
		}
		if c.gap != nil && rev == c.end && !c.gap.Time.After(at) {
			return Plan{}, fmt.Errorf("%w: %s lies beyond the chain that covers %s; pass --to-revision %d to restore up to the gap",
				ErrNotCovered, Target{Time: at}, c, c.end)
		}
		return p.plan(c, rev)
	}
	first := fulls[0]
	return Plan{}, fmt.Errorf("%w: no backup holds a state at or before %s; the oldest full snapshot is %s",
		ErrNotCovered, at.UTC().Format(time.RFC3339Nano), first.Key)
}
