// Package gardener reads backups written by gardener's etcd-backup-restore,
// so that its users can restore their history with etcdbrctl: full
// snapshots and delta ("Incr") segments in its v1 and v2 layouts,
// uncompressed or with gzip, zlib or lzw.
package gardener

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"etcdbrctl/providers"
)

// Kind is a snapshot kind as gardener names it.
type Kind string

const (
	KindFull  Kind = "Full"
	KindDelta Kind = "Incr"
)

// Snapshot is one backup object, as its key describes it:
// v2/<Kind>-<start %08d>-<last %08d>-<unix seconds>[<compression>][.final]
// or v1/Backup-<unix seconds>/<the same name>.
type Snapshot struct {
	Key           string
	Kind          Kind
	StartRevision int64
	LastRevision  int64
	Time          time.Time // when it was taken, to the second
	Compression   string    // "", ".gz", ".zlib" or ".Z"
	Final         bool      // written on shutdown
}

// ParseKey reads a snapshot key relative to the store prefix. Keys of
// chunks (parts of an upload in progress) and other objects are refused.
func ParseKey(key string) (Snapshot, error) {
	parts := strings.Split(key, "/")
	var name string
	switch {
	case len(parts) == 2 && parts[0] == "v2":
		name = parts[1]
	case len(parts) == 3 && parts[0] == "v1" && strings.HasPrefix(parts[1], "Backup-"):
		name = parts[2]
	case len(parts) == 2 && strings.HasPrefix(parts[0], "Backup-"):
		name = parts[1]
	default:
		return Snapshot{}, fmt.Errorf("%q is not a gardener snapshot key", key)
	}
	s := Snapshot{Key: key}
	if n, ok := strings.CutSuffix(name, ".final"); ok {
		name, s.Final = n, true
	}
	for _, suffix := range []string{".gz", ".zlib", ".Z"} {
		if n, ok := strings.CutSuffix(name, suffix); ok {
			name, s.Compression = n, suffix
			break
		}
	}
	f := strings.Split(name, "-")
	if len(f) != 4 {
		return Snapshot{}, fmt.Errorf("%q is not a gardener snapshot name", key)
	}
	switch Kind(f[0]) {
	case KindFull, KindDelta:
		s.Kind = Kind(f[0])
	default:
		return Snapshot{}, fmt.Errorf("%q: unknown snapshot kind %q", key, f[0])
	}
	var nums [3]int64
	for i, txt := range f[1:] {
		v, err := strconv.ParseInt(txt, 10, 64)
		if err != nil || v < 0 {
			return Snapshot{}, fmt.Errorf("%q: %q is not a number", key, txt)
		}
		nums[i] = v
	}
	s.StartRevision, s.LastRevision = nums[0], nums[1]
	s.Time = time.Unix(nums[2], 0).UTC()
	if s.StartRevision > s.LastRevision {
		return Snapshot{}, fmt.Errorf("%q: revision range %d-%d runs backwards", key, s.StartRevision, s.LastRevision)
	}
	return s, nil
}

// List returns the snapshots under the store's prefix, in the order they
// were taken (by time, then by revision). Other objects are ignored.
func List(ctx context.Context, store providers.Store) ([]Snapshot, error) {
	var out []Snapshot
	for _, prefix := range []string{"v2/", "v1/", "Backup-"} {
		objs, err := store.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list gardener backups under %s: %w", prefix, err)
		}
		for _, o := range objs {
			if s, err := ParseKey(o.Key); err == nil {
				out = append(out, s)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.LastRevision != b.LastRevision {
			return a.LastRevision < b.LastRevision
		}
		return a.Kind == KindFull && b.Kind != KindFull
	})
	return out, nil
}

// Chain is a full snapshot and the deltas that follow it without a gap.
type Chain struct {
	Full   Snapshot
	Deltas []Snapshot
	// Unreachable are newer deltas that a gap in revisions cuts off.
	Unreachable []Snapshot
}

// LastRevision is the newest revision the chain can restore.
func (c Chain) LastRevision() int64 {
	if n := len(c.Deltas); n > 0 {
		return c.Deltas[n-1].LastRevision
	}
	return c.Full.LastRevision
}

// LatestChain picks the newest full snapshot and the deltas after it, up to
// the first gap. ok is false when there is no full snapshot.
func LatestChain(snaps []Snapshot) (c Chain, ok bool) {
	start := -1
	for i, s := range snaps {
		if s.Kind == KindFull {
			start = i
		}
	}
	if start < 0 {
		return Chain{}, false
	}
	c.Full = snaps[start]
	next := c.Full.LastRevision + 1
	for _, s := range snaps[start+1:] {
		switch {
		case s.Kind != KindDelta || s.LastRevision < next && len(c.Unreachable) == 0:
			// Not a delta, or already covered by what came before.
		case s.StartRevision == next && len(c.Unreachable) == 0:
			c.Deltas = append(c.Deltas, s)
			next = s.LastRevision + 1
		default:
			c.Unreachable = append(c.Unreachable, s)
		}
	}
	return c, true
}

func (s Snapshot) String() string { return path.Base(s.Key) }
