package swift

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// upload is the segments one Put wrote.
type upload struct {
	object string // the Swift name of the object they were for
	names  []string
	newest time.Time
}

// RemoveLeftovers deletes the segments under this store's prefix that no
// manifest refers to, left by Puts that crashed or whose cleanup failed,
// and reports how many segments it deleted. An upload counts as started
// before olderThan only if its newest segment is older than that, so a
// slow Put still writing is never touched.
func (s *Store) RemoveLeftovers(ctx context.Context, olderThan time.Time) (int, error) {
	c, err := s.conn.get(ctx)
	if err != nil {
		return 0, fmt.Errorf("swift store: removing leftovers: %w", err)
	}
	uploads, err := s.listUploads(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("swift store: removing leftovers: listing container %q: %w", s.segContainer, err)
	}
	removed := 0
	referenced := map[string]map[string]bool{} // object name → its manifest's segments
	for _, u := range uploads {
		if !u.newest.Before(olderThan) {
			continue
		}
		refs, ok := referenced[u.object]
		if !ok {
			segments, _, err := s.readManifest(ctx, c, u.object)
			if err != nil {
				return removed, fmt.Errorf("swift store: removing leftovers: manifest %q in container %q: %w", u.object, s.container, err)
			}
			refs = map[string]bool{}
			for _, seg := range segments {
				refs[seg.Name] = true
			}
			referenced[u.object] = refs
		}
		if slices.ContainsFunc(u.names, func(name string) bool { return refs["/"+s.segContainer+"/"+name] }) {
			continue
		}
		n, err := s.deleteSegments(ctx, c, u.names)
		removed += n
		if err != nil {
			return removed, fmt.Errorf("swift store: removing leftovers: %w", err)
		}
	}
	return removed, nil
}

// listUploads groups the segments under the store's prefix by upload, in
// name order. Objects not named like segments are left out, and so never
// deleted. A missing segment container holds no leftovers.
func (s *Store) listUploads(ctx context.Context, c *gophercloud.ServiceClient) ([]*upload, error) {
	var uploads []*upload
	byID := map[string]*upload{}
	err := objects.List(c, s.segContainer, objects.ListOpts{Prefix: s.prefix}).EachPage(ctx,
		func(_ context.Context, page pagination.Page) (bool, error) {
			infos, err := objects.ExtractInfo(page)
			if err != nil {
				return false, err
			}
			for _, o := range infos {
				object, id, ok := parseSegmentName(o.Name)
				if !ok || !strings.HasPrefix(object, s.prefix) {
					continue
				}
				u := byID[object+"/"+id]
				if u == nil {
					u = &upload{object: object}
					byID[object+"/"+id] = u
					uploads = append(uploads, u)
				}
				u.names = append(u.names, o.Name)
				if o.LastModified.After(u.newest) {
					u.newest = o.LastModified
				}
			}
			return true, nil
		})
	if err = classify(err); isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return uploads, err
}
