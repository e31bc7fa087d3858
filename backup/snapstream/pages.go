package snapstream

import (
	"bytes"

	"go.etcd.io/etcd/server/v3/storage/schema"
)

// summary is what one page slot contributes to the walk done by Finish, packed into 8
// bytes: a 2-bit kind and a 62-bit value.
type summary uint64

const (
	summaryKindShift = 62
	summaryValueMask = 1<<summaryKindShift - 1

	kindNone   = 0 // the slot does not start a usable branch or leaf page
	kindBranch = 1 // value: the page's last (rightmost) child
	kindLeaf   = 2 // value: main revision of the page's last key (see notRevision)
	// kindLeafUnscanned is a leaf too large to buffer: only its last key was read, so it
	// cannot serve as a root or meta bucket page.
	kindLeafUnscanned = 3

	// notRevision is the leaf value when the last key is not an mvcc revision key, or is
	// one with a main revision of 2^62-1 or more (which no etcd reaches).
	notRevision = summaryValueMask
)

func makeSummary(kind, value uint64) summary { return summary(kind<<summaryKindShift | value) }
func (s summary) kind() uint64               { return uint64(s) >> summaryKindShift }
func (s summary) value() uint64              { return uint64(s) & summaryValueMask }

// lastKeySummary is the leaf summary value for a leaf whose last key is key.
func lastKeySummary(key []byte) uint64 {
	main, ok := mainRevision(key)
	if !ok || uint64(main) >= notRevision {
		return notRevision
	}
	return uint64(main)
}

// subBucket is a bucket entry found on a leaf page: the bucket's root page, or for an
// inline bucket (root 0) what its inline page holds.
type subBucket struct {
	found     bool
	malformed bool
	root      uint64
	last      uint64     // inline only: summary value of the last key
	comp      compaction // inline only: compaction entries
}

// leafFacts is what a fully buffered leaf page may hold for the root or meta bucket. Only
// pages where something was found are kept (see interesting).
type leafFacts struct {
	key, meta subBucket
	comp      compaction
}

func (f leafFacts) interesting() bool { return f.key.found || f.meta.found || f.comp.any() }

// scanLeaf collects the bucket and compaction entries of the leaf page held in b. Inline
// pages hold no buckets, so nested scans look for compaction entries only.
func scanLeaf(b []byte, count uint16, nested bool) leafFacts {
	var f leafFacts
	for i := range int(count) {
		flags, key, value, ok := leafElement(b, i)
		if !ok {
			continue
		}
		if flags&bucketLeafFlag == 0 {
			f.comp.note(key, value)
			continue
		}
		if nested {
			continue
		}
		switch {
		case isKeyBucket(key):
			f.key = readSubBucket(value)
		case isMetaBucket(key):
			f.meta = readSubBucket(value)
		}
	}
	return f
}

// readSubBucket decodes a bucket entry's value: a bucket header, then for an inline
// bucket its leaf page.
func readSubBucket(value []byte) subBucket {
	if len(value) < bucketHeaderSize {
		return subBucket{found: true, malformed: true}
	}
	sb := subBucket{found: true, root: le.Uint64(value)}
	if sb.root != 0 {
		return sb
	}
	inline := value[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		sb.malformed = true
		return sb
	}
	h := decodeHeader(inline)
	if h.flags != leafPageFlag {
		sb.malformed = true
		return sb
	}
	last, ok := leafSummaryValue(inline, h.count)
	if !ok {
		sb.malformed = true
		return sb
	}
	sb.last = last
	sb.comp = scanLeaf(inline, h.count, true).comp
	return sb
}

// leafSummaryValue is the summary value of the leaf page held in b; ok is false when its
// last element lies outside b. An empty leaf counts as revision 0, which etcd's restore
// treats like no key at all.
func leafSummaryValue(b []byte, count uint16) (value uint64, ok bool) {
	if count == 0 {
		return 0, true
	}
	_, key, _, ok := leafElement(b, int(count)-1)
	if !ok {
		return 0, false
	}
	return lastKeySummary(key), true
}

// rootBranch is what Finish needs when the root bucket's page is a branch page: the
// children a lookup of "key" and "meta" descends into.
type rootBranch struct {
	known               bool
	keyChild, metaChild uint64
}

// branchChildFor picks the child of the branch page in b that a lookup of name descends
// into, exactly like bbolt's Cursor.searchPage: the last element whose key is <= name, or
// the first element.
func branchChildFor(b []byte, count uint16, name []byte) (uint64, bool) {
	index := int(count)
	for i := range int(count) {
		key, _, ok := branchElement(b, i)
		if !ok {
			return 0, false
		}
		if c := bytes.Compare(key, name); c >= 0 {
			index = i
			if c > 0 && i > 0 {
				index--
			}
			break
		}
	}
	if index == int(count) {
		index--
	}
	_, child, _ := branchElement(b, index)
	return child, true
}

// inspectPage records the facts of the page starting at slot pgid whose whole span is
// held in b.
func (in *Inspector) inspectPage(pgid uint64, b []byte) {
	h := decodeHeader(b)
	switch h.flags {
	case branchPageFlag:
		if h.count == 0 {
			return
		}
		at := elementAt(int(h.count)-1) + 8
		if at+8 > uint64(len(b)) {
			return
		}
		in.setBranch(pgid, le.Uint64(b[at:]))
		if pgid == in.meta.root {
			keyChild, ok1 := branchChildFor(b, h.count, schema.Key.Name())
			metaChild, ok2 := branchChildFor(b, h.count, schema.Meta.Name())
			in.rootBranch = rootBranch{known: ok1 && ok2, keyChild: keyChild, metaChild: metaChild}
		}
	case leafPageFlag:
		value, ok := leafSummaryValue(b, h.count)
		if !ok {
			return
		}
		in.summaries[pgid] = makeSummary(kindLeaf, value)
		if facts := scanLeaf(b, h.count, false); facts.interesting() {
			in.leaves[pgid] = facts
		}
	}
}

// setBranch records a branch page's last child, if it can be a page at all.
func (in *Inspector) setBranch(pgid, child uint64) {
	if child >= firstDataPageID && child < in.meta.hwm {
		in.summaries[pgid] = makeSummary(kindBranch, child)
	}
}
