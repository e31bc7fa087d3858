package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"etcdbrctl/providers"
)

// Catalog is what a store holds, read from one listing.
type Catalog struct {
	// Backups are the committed backups, oldest first (by time, then revision).
	Backups []Entry
	// Data are the data objects found, committed or not.
	Data []providers.Object
	// Foreign are objects under Root that this format does not know.
	Foreign []providers.Object
}

// Entry is one committed backup as its manifest name describes it.
type Entry struct {
	Name
	Key      string // manifest key
	Manifest *Manifest
}

// ReadCatalog lists the store. Manifests are not opened; see LoadManifests.
func ReadCatalog(ctx context.Context, store providers.Store) (Catalog, error) {
	objs, err := store.List(ctx, Root+"/")
	if err != nil {
		return Catalog{}, fmt.Errorf("list backups: %w", err)
	}
	var c Catalog
	for _, o := range objs {
		if strings.HasPrefix(o.Key, Root+"/data/") {
			c.Data = append(c.Data, o)
			continue
		}
		n, err := ParseName(o.Key)
		if err != nil {
			c.Foreign = append(c.Foreign, o)
			continue
		}
		c.Backups = append(c.Backups, Entry{Name: n, Key: o.Key})
	}
	sortBackups(c.Backups)
	return c, nil
}

// sortBackups orders backups by time, not revision: after a restore to an
// earlier point, new backups hold lower revisions than older ones, and the
// newest backup is still the one taken last.
func sortBackups(backups []Entry) {
	sort.SliceStable(backups, func(i, j int) bool {
		a, b := backups[i], backups[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		return a.Revision < b.Revision
	})
}

// Fulls returns the full snapshots, oldest first.
func (c Catalog) Fulls() []Entry {
	var out []Entry
	for _, e := range c.Backups {
		if e.Kind == KindFull {
			out = append(out, e)
		}
	}
	return out
}

// LatestFull returns the newest full snapshot, if any.
func (c Catalog) LatestFull() (Entry, bool) {
	f := c.Fulls()
	if len(f) == 0 {
		return Entry{}, false
	}
	return f[len(f)-1], true
}

// LoadManifests reads the manifests of the given entries, a few at a time.
// Entries whose manifest cannot be read keep a nil Manifest; the error
// names every one of them.
func LoadManifests(ctx context.Context, store providers.Store, entries []Entry) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make([]error, len(entries))
	for i := range entries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := ReadManifest(ctx, store, entries[i].Key)
			if err != nil {
				errs[i] = err
				return
			}
			entries[i].Manifest = &m
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
