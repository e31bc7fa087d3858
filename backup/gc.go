package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"

	"etcdbrctl/providers"
)

// OrphanGrace is how old a data object without a manifest must be before GC
// removes it: younger ones may belong to a backup being committed right now.
const OrphanGrace = time.Hour

// GCResult says what a collection removed.
type GCResult struct {
	Backups []Entry  // backups removed (manifest and data)
	Orphans []string // data objects removed that no manifest referenced
	// Leftovers counts the parts of interrupted uploads the store removed.
	Leftovers int
}

// CollectGarbage removes what policy does not keep; see Collector.
func CollectGarbage(ctx context.Context, store providers.Store, policy GCPolicy, now time.Time) (GCResult, error) {
	return (&Collector{Store: store, Policy: policy}).Collect(ctx, now)
}

// Collector removes old backups by chain. It remembers the manifests it has
// read (they never change), so a collection every minute does not read every
// manifest of the store again.
type Collector struct {
	Store  providers.Store
	Policy GCPolicy

	manifests map[string]Manifest
}

// Collect removes the backups the policy does not keep, the newest delta of a
// chain first and its full snapshot last; a backup's manifest goes before its
// data, so a backup is never listed without its bytes. Data objects no
// manifest references are removed once older than OrphanGrace, and so are
// the leftovers of interrupted uploads on stores that keep them.
func (c *Collector) Collect(ctx context.Context, now time.Time) (GCResult, error) {
	if err := c.Policy.Validate(); err != nil {
		return GCResult{}, err
	}
	cat, err := ReadCatalog(ctx, c.Store)
	if err != nil {
		return GCResult{}, err
	}
	// A manifest that cannot be read keeps its backup, and, since its data
	// object is unknown, keeps every unreferenced data object too.
	var errs *multierror.Error
	unreadable := c.load(ctx, cat.Backups)
	if unreadable != nil {
		errs = multierror.Append(errs, unreadable)
	}
	referenced := map[string]bool{}
	for _, e := range cat.Backups {
		if e.Manifest != nil {
			referenced[e.Manifest.Data] = true
		}
	}

	var res GCResult
	chains := cat.Chains()       // after load: the entries carry their manifests
	stopped := map[string]bool{} // chains (by full key) whose removal failed
	chainOf := map[string]string{}
	for _, ch := range chains {
		for _, d := range ch.Deltas {
			chainOf[d.Key] = ch.Full.Key
		}
		chainOf[ch.Full.Key] = ch.Full.Key
	}
	for _, e := range c.Policy.plan(chains, now) {
		chain := chainOf[e.Key]
		if stopped[chain] {
			continue
		}
		// What cannot be removed stays with everything older in its chain,
		// so the chain still restores up to it.
		if e.Manifest == nil {
			stopped[chain] = true
			continue
		}
		if err := c.remove(ctx, e); err != nil {
			errs = multierror.Append(errs, err)
			stopped[chain] = true
			continue
		}
		res.Backups = append(res.Backups, e)
	}
	for _, o := range cat.Data {
		if unreadable != nil || referenced[o.Key] || now.Sub(o.ModTime) < OrphanGrace {
			continue
		}
		if err := c.Store.Delete(ctx, o.Key); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("delete %s: %w", o.Key, err))
			continue
		}
		res.Orphans = append(res.Orphans, o.Key)
	}
	if lr, ok := c.Store.(providers.LeftoverRemover); ok {
		n, err := lr.RemoveLeftovers(ctx, now.Add(-OrphanGrace))
		res.Leftovers = n
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("remove leftovers of interrupted uploads: %w", err))
		}
	}
	return res, errs.ErrorOrNil()
}

func (c *Collector) remove(ctx context.Context, e Entry) error {
	if err := c.Store.Delete(ctx, e.Key); err != nil {
		return fmt.Errorf("delete %s: %w", e.Key, err)
	}
	delete(c.manifests, e.Key)
	if err := c.Store.Delete(ctx, e.Manifest.Data); err != nil {
		return fmt.Errorf("delete %s: %w", e.Manifest.Data, err)
	}
	return nil
}

// load fills in the entries' manifests, reading only those not seen before.
func (c *Collector) load(ctx context.Context, entries []Entry) error {
	if c.manifests == nil {
		c.manifests = map[string]Manifest{}
	}
	var unknown []Entry
	var at []int
	for i, e := range entries {
		if m, ok := c.manifests[e.Key]; ok {
			entries[i].Manifest = &m
			continue
		}
		unknown = append(unknown, e)
		at = append(at, i)
	}
	err := LoadManifests(ctx, c.Store, unknown)
	for j, e := range unknown {
		if e.Manifest != nil {
			c.manifests[e.Key] = *e.Manifest
			entries[at[j]].Manifest = e.Manifest
		}
	}
	// Forget what the store no longer holds.
	if len(c.manifests) > len(entries) {
		present := make(map[string]bool, len(entries))
		for _, e := range entries {
			present[e.Key] = true
		}
		for k := range c.manifests {
			if !present[k] {
				delete(c.manifests, k)
			}
		}
	}
	return err
}
