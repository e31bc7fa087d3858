package backup

// Chain is a full snapshot and the delta segments taken after it, up to the
// next full snapshot, oldest first. Restoring a point of a chain starts from
// its full snapshot and applies its deltas in order, so a chain can restore
// every revision from the full snapshot's up to the last delta before its
// first gap.
type Chain struct {
	// Full is the chain's full snapshot. Its Key is empty when deltas have no
	// full snapshot before them (it was removed by hand, or a removal was
	// interrupted); such deltas restore nothing.
	Full Entry
	// Deltas are the segments after Full, oldest first.
	Deltas []Entry
	// Gaps are the places where a delta does not start right after what
	// comes before it.
	Gaps []Gap
}

// Gap is a break in a chain: Next does not start at After's revision + 1.
// Next starts later (revisions are missing) or earlier (it overlaps).
type Gap struct {
	After Entry
	Next  Entry
}

// Missing reports the revisions missing between After and Next; from > to
// when Next overlaps After instead.
func (g Gap) Missing() (from, to int64) {
	return g.After.Revision + 1, g.Next.FromRevision - 1
}

// HasFull reports whether the chain starts with a full snapshot.
func (c Chain) HasFull() bool { return c.Full.Key != "" }

// Last is the newest backup of the chain.
func (c Chain) Last() Entry {
	if len(c.Deltas) > 0 {
		return c.Deltas[len(c.Deltas)-1]
	}
	return c.Full
}

// Restorable gives the first and last backups of the part of the chain a
// restore can use: from its full snapshot to the last delta before the first
// gap. ok is false when the chain has no full snapshot.
func (c Chain) Restorable() (from, to Entry, ok bool) {
	if !c.HasFull() {
		return Entry{}, Entry{}, false
	}
	to = c.Full
	for _, d := range c.Deltas {
		if d.FromRevision != to.Revision+1 {
			break
		}
		to = d
	}
	return c.Full, to, true
}

// Chains groups the catalog's backups into chains, oldest first. Backups are
// in time order, so a delta belongs to the newest full snapshot taken before
// it, whatever the revisions say: after a restore to an earlier point, a new
// chain starts from a lower revision than the one before it.
func (c Catalog) Chains() []Chain {
	var chains []Chain
	for _, e := range c.Backups {
		if e.Kind == KindFull {
			chains = append(chains, Chain{Full: e})
			continue
		}
		if e.Kind != KindDelta {
			continue
		}
		if len(chains) == 0 {
			chains = append(chains, Chain{})
		}
		ch := &chains[len(chains)-1]
		if prev := ch.Last(); prev.Key != "" && e.FromRevision != prev.Revision+1 {
			ch.Gaps = append(ch.Gaps, Gap{After: prev, Next: e})
		}
		ch.Deltas = append(ch.Deltas, e)
	}
	return chains
}

// LatestChain returns the newest chain, if there is one.
func (c Catalog) LatestChain() (Chain, bool) {
	chains := c.Chains()
	if len(chains) == 0 {
		return Chain{}, false
	}
	return chains[len(chains)-1], true
}
