// Package snapstream learns the facts of an etcd snapshot while the snapshot streams past,
// so that a full backup can record the snapshot's exact revision without holding the
// database in memory or in a temporary file.
//
// The stream is what etcd's Maintenance.Snapshot sends: the bbolt file as written by
// bbolt's Tx.WriteTo (meta pages 0 and 1, then the data pages in page-id order up to the
// transaction's high water mark), followed by the sha256 of all those bytes.
//
// The revision is computed the way etcd's mvcc store computes it on restore: the largest
// main revision in the "key" bucket, raised to the finished and scheduled compaction
// revisions of the "meta" bucket, and at least 1. Only pages reachable from the meta page's
// root are consulted: freed pages and the continuation slots of overflow pages may hold
// stale or user-controlled bytes that look like pages. Since the stream cannot be read
// twice, every page slot is treated as a possible page start and summarised in 8 bytes (a
// branch page's last child, a leaf page's last revision); Finish then walks the key bucket
// from its root down the rightmost children. Garbage summaries of unreachable slots are
// never looked at.
//
// Memory: 8 bytes per page slot (2 MiB per GiB of database with 4 KiB pages), plus one
// page slot, plus a window of at most 2*maxBufferedSpan for pages with overflow, plus
// about 60 bytes per page larger than the window while it streams past (only its last key
// is captured), plus about 150 bytes per leaf page holding a root or meta bucket entry
// (the live ones and stale copies on freed pages). The last two are a handful in a real
// snapshot; in hostile input they are still bounded by the number of page slots that
// arrive, never by a size the stream claims.
package snapstream

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

var (
	// ErrChecksum reports bytes that do not match a checksum the stream carries: etcd's
	// sha256 trailer, or the checksum of a bbolt meta page.
	ErrChecksum = errors.New("etcd snapshot checksum mismatch")
	// ErrFormat reports a stream that is not an etcd snapshot, or a malformed one.
	ErrFormat = errors.New("not a valid etcd snapshot")
)

// maxBufferedSpan is the largest page (with its overflow) that is buffered whole; larger
// pages are read through targeted captures of the few bytes needed.
const maxBufferedSpan = 1 << 20

// Info is what an Inspector learned from a snapshot stream.
type Info struct {
	// Revision is the revision etcd reports after restoring the snapshot.
	Revision int64
	// CompactRevision is the finished compaction revision recorded in the meta bucket,
	// 0 if none.
	CompactRevision int64
	// DBSize is the number of bytes of the bbolt file, trailer excluded.
	DBSize int64
	// SHA256 is the snapshot's sha256 trailer, verified.
	SHA256 [sha256.Size]byte
}

// Inspector is fed an etcd snapshot stream through Write and learns its facts as the bytes
// pass; Finish reports them. It is meant to sit behind an io.TeeReader or io.MultiWriter.
// An Inspector is not safe for concurrent use.
type Inspector struct {
	maxSpan uint64 // pages spanning more bytes than this are not buffered
	err     error  // sticky: once set, every call returns it

	off  uint64    // bytes written so far
	hash hash.Hash // of the bbolt file bytes

	head    [metaEnd]byte // the start of meta page 0, until the page size is known
	meta    boltMeta      // from meta page 0; pageSize 0 until decoded
	trailer [sha256.Size]byte

	slot     []byte // assembles a page slot that arrives in pieces
	slotFill int
	nextSlot uint64

	summaries  []summary            // one per page slot seen
	leaves     map[uint64]leafFacts // pages holding root or meta bucket entries
	rootBranch rootBranch
	window     window
	captures   captureQueue
}

// NewInspector returns an Inspector ready for the first byte of a snapshot stream.
func NewInspector() *Inspector {
	return newInspector(maxBufferedSpan)
}

func newInspector(maxSpan uint64) *Inspector {
	return &Inspector{
		maxSpan: maxSpan,
		hash:    sha256.New(),
		leaves:  make(map[uint64]leafFacts),
		window:  window{maxSpan: maxSpan},
	}
}

// Write consumes the next bytes of the stream. It never retains p. It fails as soon as the
// stream is known to be no etcd snapshot: at once when the first page is not a bbolt meta
// page, or on bytes after the sha256 trailer. After an error every call fails the same way.
func (in *Inspector) Write(p []byte) (int, error) {
	if in.err != nil {
		return 0, in.err
	}
	if err := in.consume(p); err != nil {
		in.err = err
		return 0, err
	}
	return len(p), nil
}

func (in *Inspector) consume(p []byte) error {
	for len(p) > 0 {
		switch {
		case in.meta.pageSize == 0:
			n := copy(in.head[in.off:], p)
			in.hash.Write(p[:n])
			in.off += uint64(n)
			p = p[n:]
			if err := in.checkHead(); err != nil {
				return err
			}
		case in.off < in.meta.size():
			n := int(min(uint64(len(p)), in.meta.size()-in.off))
			in.hash.Write(p[:n])
			in.off += uint64(n)
			if err := in.feedSlots(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		default:
			done := in.off - in.meta.size()
			if done+uint64(len(p)) > sha256.Size {
				return fmt.Errorf("%w: more than %d bytes after the %d-byte bbolt file", ErrFormat, sha256.Size, in.meta.size())
			}
			copy(in.trailer[done:], p)
			in.off += uint64(len(p))
			p = nil
		}
	}
	return nil
}

// checkHead validates meta page 0 as far as it has arrived and, once whole, starts page
// slot processing with those bytes as the beginning of slot 0.
func (in *Inspector) checkHead() error {
	var m boltMeta
	var err error
	switch {
	case in.off < metaMagicEnd:
		return nil
	case in.off < metaEnd:
		err = checkMagic(in.head[:])
	default:
		m, err = decodeMeta(in.head[:])
	}
	if err != nil {
		return fmt.Errorf("meta page 0: %w", err)
	}
	if m.pageSize == 0 {
		return nil // not whole yet
	}
	in.meta = m
	in.slot = make([]byte, m.pageSize)
	in.slotFill = copy(in.slot, in.head[:])
	return nil
}

// feedSlots splits bbolt file bytes into page slots; whole slots are inspected in place.
func (in *Inspector) feedSlots(b []byte) error {
	ps := int(in.meta.pageSize)
	for len(b) > 0 {
		if in.slotFill == 0 && len(b) >= ps {
			if err := in.inspectSlot(b[:ps]); err != nil {
				return err
			}
			b = b[ps:]
			continue
		}
		n := copy(in.slot[in.slotFill:], b)
		in.slotFill += n
		b = b[n:]
		if in.slotFill == ps {
			in.slotFill = 0
			if err := in.inspectSlot(in.slot); err != nil {
				return err
			}
		}
	}
	return nil
}

// inspectSlot handles the next page slot of the file.
func (in *Inspector) inspectSlot(b []byte) error {
	s := in.nextSlot
	in.nextSlot++
	in.summaries = append(in.summaries, makeSummary(kindNone, 0))
	switch s {
	case 0:
		return nil // decoded by checkHead
	case 1:
		return in.checkSecondMeta(b)
	}
	in.window.add(b)
	in.startPage(s, b)
	in.captures.feed(in, s*in.meta.pageSize, b)
	in.window.closeAt(in, s)
	return nil
}

// checkSecondMeta checks meta page 1, which Tx.WriteTo writes from the same meta.
func (in *Inspector) checkSecondMeta(b []byte) error {
	m, err := decodeMeta(b)
	if err != nil {
		return fmt.Errorf("meta page 1: %w", err)
	}
	if m != in.meta {
		return fmt.Errorf("%w: meta pages disagree (%+v, %+v)", ErrFormat, in.meta, m)
	}
	return nil
}

// startPage looks at the slot as a possible page start: single-slot pages are inspected
// now, larger ones are buffered in the window or, when too large, captured piecewise.
func (in *Inspector) startPage(s uint64, b []byte) {
	h := decodeHeader(b)
	if h.id != s || (h.flags != branchPageFlag && h.flags != leafPageFlag) {
		return
	}
	last := s + uint64(h.overflow)
	if last >= in.meta.hwm {
		return
	}
	span := (uint64(h.overflow) + 1) * in.meta.pageSize
	switch {
	case h.overflow == 0:
		in.inspectPage(s, b)
	case span <= in.maxSpan:
		in.window.open(s, last, b)
	default:
		in.startCapture(s, h, s*in.meta.pageSize, span)
	}
}

// Finish is called once the whole stream was written. It verifies the sha256 trailer and
// returns what was learned.
func (in *Inspector) Finish() (Info, error) {
	if in.err != nil {
		return Info{}, in.err
	}
	if in.meta.pageSize == 0 || in.off < in.meta.size()+sha256.Size {
		want := "at least one bbolt meta page"
		if in.meta.pageSize != 0 {
			want = fmt.Sprintf("%d", in.meta.size()+sha256.Size)
		}
		return Info{}, fmt.Errorf("%w: stream truncated after %d bytes, want %s: %w", ErrFormat, in.off, want, io.ErrUnexpectedEOF)
	}
	info := Info{DBSize: int64(in.meta.size()), SHA256: in.trailer}
	var sum [sha256.Size]byte
	if in.hash.Sum(sum[:0]); sum != in.trailer {
		return Info{}, fmt.Errorf("%w: sha256 of the bbolt file is %x, trailer says %x", ErrChecksum, sum, in.trailer)
	}
	rev, comp, err := in.resolve()
	if err != nil {
		return Info{}, err
	}
	info.Revision, info.CompactRevision = rev, comp
	return info, nil
}
