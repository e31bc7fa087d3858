package snapstream

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
)

// bbolt keeps its on-disk layout in an internal package (go.etcd.io/bbolt/internal/common),
// so the offsets below are spelled out from it. bbolt writes integers in the byte order of
// the machine; only little-endian files are read here (see decodeMeta).
const (
	pageHeaderSize   = 16 // id uint64, flags uint16, count uint16, overflow uint32
	pageElementSize  = 16 // leaf: flags, pos, ksize, vsize uint32; branch: pos, ksize uint32, pgid uint64
	bucketHeaderSize = 16 // root pgid uint64, sequence uint64

	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01

	boltMagic   = 0xED0CDAED
	boltVersion = 2

	// The meta sits right after the page header: magic, version, pageSize, flags uint32,
	// root bucket {pgid, sequence}, freelist pgid, high water mark pgid, txid, checksum uint64.
	metaMagicEnd    = pageHeaderSize + 4
	metaChecksumAt  = pageHeaderSize + 56
	metaEnd         = pageHeaderSize + 64
	minPageSize     = 512
	maxPageSize     = 1 << 20
	firstDataPageID = 2 // pages 0 and 1 are the meta pages
)

var le = binary.LittleEndian

// boltMeta holds the fields of a bbolt meta page that locate the data.
type boltMeta struct {
	pageSize uint64
	root     uint64 // page of the root bucket
	hwm      uint64 // high water mark: the file holds pages [0, hwm)
}

// size is the number of bytes of the file, which is what bbolt's Tx.WriteTo streams.
func (m boltMeta) size() uint64 { return m.hwm * m.pageSize }

// checkMagic fails fast on a stream whose first bytes are not a bbolt meta page; b holds
// at least metaMagicEnd bytes.
func checkMagic(b []byte) error {
	switch magic := le.Uint32(b[pageHeaderSize:]); magic {
	case boltMagic:
		return nil
	case bits.ReverseBytes32(boltMagic):
		return fmt.Errorf("%w: bbolt file written by a big-endian machine is not supported", ErrFormat)
	default:
		return fmt.Errorf("%w: no bbolt magic at the start (found %#08x)", ErrFormat, magic)
	}
}

// decodeMeta validates and decodes the meta page held in b (at least metaEnd bytes).
func decodeMeta(b []byte) (boltMeta, error) {
	if err := checkMagic(b); err != nil {
		return boltMeta{}, err
	}
	if v := le.Uint32(b[metaMagicEnd:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("%w: bbolt version %d, want %d", ErrFormat, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:metaChecksumAt])
	if want, got := le.Uint64(b[metaChecksumAt:]), h.Sum64(); want != got {
		return boltMeta{}, fmt.Errorf("%w: bbolt meta page checksum %#016x, want %#016x", ErrChecksum, got, want)
	}
	m := boltMeta{
		pageSize: uint64(le.Uint32(b[pageHeaderSize+8:])),
		root:     le.Uint64(b[pageHeaderSize+16:]),
		hwm:      le.Uint64(b[pageHeaderSize+40:]),
	}
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("%w: unsupported bbolt page size %d", ErrFormat, m.pageSize)
	}
	// Keep every offset below 2^62 so that offset arithmetic cannot overflow.
	if m.hwm > (1<<62)/m.pageSize {
		return boltMeta{}, fmt.Errorf("%w: bbolt high water mark %d out of range", ErrFormat, m.hwm)
	}
	if m.root < firstDataPageID || m.root >= m.hwm {
		return boltMeta{}, fmt.Errorf("%w: bbolt root page %d outside the file's %d pages", ErrFormat, m.root, m.hwm)
	}
	return m, nil
}

// pageHeader is the header every bbolt page starts with.
type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func decodeHeader(b []byte) pageHeader {
	return pageHeader{
		id:       le.Uint64(b),
		flags:    le.Uint16(b[8:]),
		count:    le.Uint16(b[10:]),
		overflow: le.Uint32(b[12:]),
	}
}

// elementAt is the offset of element i from the start of its page.
func elementAt(i int) uint64 { return pageHeaderSize + uint64(i)*pageElementSize }

// leafElement returns element i of the leaf page held in b (header first). ok is false when
// the element or its key and value reach beyond b, or the key starts inside the element:
// bbolt writes keys and values after all the elements.
func leafElement(b []byte, i int) (flags uint32, key, value []byte, ok bool) {
	at := elementAt(i)
	if at+pageElementSize > uint64(len(b)) {
		return 0, nil, nil, false
	}
	e := b[at : at+pageElementSize]
	pos := uint64(le.Uint32(e[4:]))
	if pos < pageElementSize {
		return 0, nil, nil, false
	}
	keyAt := at + pos
	valueAt := keyAt + uint64(le.Uint32(e[8:]))
	end := valueAt + uint64(le.Uint32(e[12:]))
	if end > uint64(len(b)) {
		return 0, nil, nil, false
	}
	return le.Uint32(e), b[keyAt:valueAt], b[valueAt:end], true
}

// branchElement returns element i of the branch page held in b (header first).
func branchElement(b []byte, i int) (key []byte, child uint64, ok bool) {
	at := elementAt(i)
	if at+pageElementSize > uint64(len(b)) {
		return nil, 0, false
	}
	e := b[at : at+pageElementSize]
	pos := uint64(le.Uint32(e))
	if pos < pageElementSize {
		return nil, 0, false
	}
	keyAt := at + pos
	end := keyAt + uint64(le.Uint32(e[4:]))
	if end > uint64(len(b)) {
		return nil, 0, false
	}
	return b[keyAt:end], le.Uint64(e[8:]), true
}
