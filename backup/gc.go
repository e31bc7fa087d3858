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
}

// CollectGarbage keeps the newest keep full snapshots and removes older ones.
// A manifest goes before its data, so a backup is never listed without its
// bytes. Data objects no manifest references are removed once older than
// OrphanGrace.
func CollectGarbage(ctx context.Context, store providers.Store, keep int, now time.Time) (GCResult, error) {
	if keep < 1 {
		return GCResult{}, fmt.Errorf("garbage collection must keep at least one full snapshot, not %d", keep)
	}
	c, err := ReadCatalog(ctx, store)
	if err != nil {
		return GCResult{}, err
	}
	// A manifest that cannot be read keeps its backup, and, since its data
	// object is unknown, keeps every unreferenced data object too.
	var errs *multierror.Error
	unreadable := LoadManifests(ctx, store, c.Backups)
	if unreadable != nil {
		errs = multierror.Append(errs, unreadable)
	}
	referenced := map[string]bool{}
	for _, e := range c.Backups {
		if e.Manifest != nil {
			referenced[e.Manifest.Data] = true
		}
	}

	var res GCResult
	fulls := c.Fulls()
	for _, e := range fulls[:max(0, len(fulls)-keep)] {
		if e.Manifest == nil {
			continue
		}
		if err := store.Delete(ctx, e.Key); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("delete %s: %w", e.Key, err))
			continue
		}
		if err := store.Delete(ctx, e.Manifest.Data); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("delete %s: %w", e.Manifest.Data, err))
		}
		res.Backups = append(res.Backups, e)
	}
	for _, o := range c.Data {
		if unreadable != nil || referenced[o.Key] || now.Sub(o.ModTime) < OrphanGrace {
			continue
		}
		if err := store.Delete(ctx, o.Key); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("delete %s: %w", o.Key, err))
			continue
		}
		res.Orphans = append(res.Orphans, o.Key)
	}
	return res, errs.ErrorOrNil()
}
