package snapstream

import (
	"fmt"

	"go.etcd.io/etcd/server/v3/storage/schema"
)

// maxTreeDepth bounds the walk down the key bucket; a bbolt tree of 2^62 pages is far
// shallower, so a longer walk can only be a cycle in malformed input.
const maxTreeDepth = 64

// resolve walks from the meta page's root to the facts etcd's restore would read: the last
// key of the key bucket and the compaction entries of the meta bucket.
func (in *Inspector) resolve() (revision, compacted int64, err error) {
	keyLeaf, metaLeaf, err := in.rootLeaves()
	if err != nil {
		return 0, 0, err
	}
	keyBucket, err := in.bucketOn(keyLeaf, schema.Key.Name(), func(f leafFacts) subBucket { return f.key })
	if err != nil {
		return 0, 0, err
	}
	metaBucket, err := in.bucketOn(metaLeaf, schema.Meta.Name(), func(f leafFacts) subBucket { return f.meta })
	if err != nil {
		return 0, 0, err
	}
	last, err := in.lastKeyRevision(keyBucket)
	if err != nil {
		return 0, 0, err
	}
	comp, err := in.compactionIn(metaBucket)
	if err != nil {
		return 0, 0, err
	}
	// As mvcc's store.restore: the last key's revision, raised to the finished and the
	// scheduled compaction; 1 for an empty store.
	revision = max(1, last)
	if comp.hasFinished {
		revision = max(revision, comp.finished)
		compacted = comp.finished
	}
	if comp.hasScheduled {
		revision = max(revision, comp.scheduled)
	}
	return revision, compacted, nil
}

// pageSummary returns the summary of page pgid, kindNone for pages outside the file.
func (in *Inspector) pageSummary(pgid uint64) summary {
	if pgid < firstDataPageID || pgid >= uint64(len(in.summaries)) {
		return makeSummary(kindNone, 0)
	}
	return in.summaries[pgid]
}

// rootLeaves returns the leaf pages of the root bucket that hold the "key" and the "meta"
// bucket entries. etcd's root bucket has ten entries, so it is a single leaf page unless
// its inline buckets have grown; a branch root is followed one level down.
func (in *Inspector) rootLeaves() (keyLeaf, metaLeaf uint64, err error) {
	root := in.meta.root
	switch s := in.pageSummary(root); s.kind() {
	case kindLeaf:
		return root, root, nil
	case kindBranch:
		if !in.rootBranch.known {
			return 0, 0, fmt.Errorf("%w: root bucket branch page %d is unreadable", ErrFormat, root)
		}
		return in.rootBranch.keyChild, in.rootBranch.metaChild, nil
	case kindLeafUnscanned:
		return 0, 0, fmt.Errorf("%w: root bucket page %d spans more than %d bytes", ErrFormat, root, in.maxSpan)
	default:
		return 0, 0, fmt.Errorf("%w: root bucket page %d is not a branch or leaf page", ErrFormat, root)
	}
}

// bucketOn returns the entry of bucket name on root bucket leaf pgid; pick selects it from
// the page's facts.
func (in *Inspector) bucketOn(pgid uint64, name []byte, pick func(leafFacts) subBucket) (subBucket, error) {
	if k := in.pageSummary(pgid).kind(); k != kindLeaf {
		return subBucket{}, fmt.Errorf("%w: root bucket page %d holding %q is not a readable leaf page (kind %d)", ErrFormat, pgid, name, k)
	}
	b := pick(in.leaves[pgid])
	switch {
	case !b.found:
		return subBucket{}, fmt.Errorf("%w: no %q bucket", ErrFormat, name)
	case b.malformed:
		return subBucket{}, fmt.Errorf("%w: malformed %q bucket entry on page %d", ErrFormat, name, pgid)
	case b.root != 0 && (b.root < firstDataPageID || b.root >= in.meta.hwm):
		return subBucket{}, fmt.Errorf("%w: %q bucket root page %d outside the file", ErrFormat, name, b.root)
	}
	return b, nil
}

// lastKeyRevision returns the main revision of the key bucket's last key (0 when empty),
// walking down the rightmost children from the bucket's root.
func (in *Inspector) lastKeyRevision(b subBucket) (int64, error) {
	last := b.last
	if b.root != 0 {
		pgid := b.root
		for depth := 0; ; depth++ {
			if depth == maxTreeDepth {
				return 0, fmt.Errorf("%w: key bucket deeper than %d levels", ErrFormat, maxTreeDepth)
			}
			s := in.pageSummary(pgid)
			if s.kind() == kindBranch {
				pgid = s.value()
				continue
			}
			if s.kind() == kindNone {
				return 0, fmt.Errorf("%w: key bucket page %d is not a branch or leaf page", ErrFormat, pgid)
			}
			last = s.value()
			break
		}
	}
	if last == notRevision {
		return 0, fmt.Errorf("%w: the key bucket's last key is not an mvcc revision", ErrFormat)
	}
	return int64(last), nil
}

// compactionIn returns the compaction entries of the meta bucket, which etcd keeps small
// enough for one page.
func (in *Inspector) compactionIn(b subBucket) (compaction, error) {
	comp := b.comp
	if b.root != 0 {
		switch k := in.pageSummary(b.root).kind(); k {
		case kindLeaf:
			comp = in.leaves[b.root].comp
		case kindBranch:
			return compaction{}, fmt.Errorf("%w: meta bucket spans several pages (root %d is a branch page)", ErrFormat, b.root)
		case kindLeafUnscanned:
			return compaction{}, fmt.Errorf("%w: meta bucket page %d spans more than %d bytes", ErrFormat, b.root, in.maxSpan)
		default:
			return compaction{}, fmt.Errorf("%w: meta bucket page %d is not a leaf page", ErrFormat, b.root)
		}
	}
	if comp.malformed {
		return compaction{}, fmt.Errorf("%w: a compaction revision in the meta bucket is not an mvcc revision", ErrFormat)
	}
	return comp, nil
}
