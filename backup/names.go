package backup

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Root is the folder, relative to the store's prefix, that holds every object
// of format version 1. A later format gets a folder of its own, so readers of
// this one never meet objects they cannot read.
const Root = "etcdbr-v1"

// timeLayout is the UTC time in object names: sortable and readable.
const timeLayout = "20060102T150405.000Z"

// Kind tells full snapshots from delta segments.
type Kind string

const (
	KindFull  Kind = "full"
	KindDelta Kind = "delta"
)

// Name is what an object name says about a backup, enough to plan a restore
// from a listing alone.
type Name struct {
	Kind Kind
	// FromRevision is the first revision a delta holds; 0 for a full snapshot.
	FromRevision int64
	// Revision is the last revision the backup holds.
	Revision int64
	// Time is when the backup was started.
	Time time.Time
}

// String gives the manifest key of the backup, relative to the store prefix:
// "etcdbr-v1/full-<rev>-<time>.json" or "etcdbr-v1/delta-<from>-<to>-<time>.json".
func (n Name) String() string {
	t := n.Time.UTC().Format(timeLayout)
	if n.Kind == KindFull {
		return fmt.Sprintf("%s/full-%016d-%s.json", Root, n.Revision, t)
	}
	return fmt.Sprintf("%s/%s-%016d-%016d-%s.json", Root, n.Kind, n.FromRevision, n.Revision, t)
}

// ParseName reads a manifest key written by Name.String.
func ParseName(key string) (Name, error) {
	dir, base := path.Split(key)
	if dir != Root+"/" || !strings.HasSuffix(base, ".json") {
		return Name{}, fmt.Errorf("%q is not a backup manifest name", key)
	}
	fields := strings.Split(strings.TrimSuffix(base, ".json"), "-")
	var n Name
	var revs []string
	switch {
	case len(fields) == 3 && fields[0] == string(KindFull):
		n.Kind, revs = KindFull, fields[1:2]
	case len(fields) == 4 && fields[0] == string(KindDelta):
		n.Kind, revs = KindDelta, fields[1:3]
	default:
		return Name{}, fmt.Errorf("%q is not a backup manifest name", key)
	}
	nums := make([]int64, len(revs))
	for i, s := range revs {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || len(s) != 16 {
			return Name{}, fmt.Errorf("%q: bad revision %q", key, s)
		}
		nums[i] = v
	}
	n.Revision = nums[len(nums)-1]
	if n.Kind == KindDelta {
		n.FromRevision = nums[0]
		if n.FromRevision > n.Revision {
			return Name{}, fmt.Errorf("%q: revision range %d-%d runs backwards", key, n.FromRevision, n.Revision)
		}
	}
	t, err := time.Parse(timeLayout, fields[len(fields)-1])
	if err != nil {
		return Name{}, fmt.Errorf("%q: bad time %q", key, fields[len(fields)-1])
	}
	n.Time = t
	// Only names this format writes: two spellings of one backup (time.Parse
	// also takes a comma before the milliseconds) would make keys ambiguous.
	if n.String() != key {
		return Name{}, fmt.Errorf("%q is not a backup manifest name in canonical form", key)
	}
	return n, nil
}

// dataKey names the object holding a backup's bytes. It is chosen before the
// snapshot's revision is known, so it carries the start time and a random tag.
func dataKey(kind Kind, start time.Time, tag string, encrypted bool) string {
	k := fmt.Sprintf("%s/data/%s-%s-%s.zst", Root, kind, start.UTC().Format(timeLayout), tag)
	if encrypted {
		k += ".age"
	}
	return k
}
