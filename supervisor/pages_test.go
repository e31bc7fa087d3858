package supervisor

import (
	"encoding/binary"
	"os"
	"testing"
)

// A bbolt file read through its page headers, to find the pages a test
// damages. Layout: a 16-byte page header (id u64, flags u16, count u16,
// overflow u32); a meta page then holds magic, version, page size, flags,
// the root bucket (root page u64, sequence u64), ...; a branch page holds
// 16-byte elements (pos u32, ksize u32, child u64) and a leaf page 16-byte
// elements (flags u32, pos u32, ksize u32, vsize u32), pos counting from
// the element itself.
const (
	branchFlag       = 0x01
	leafFlag         = 0x02
	bucketLeafFlag   = 0x01
	pageHeaderBytes  = 16
	elementBytes     = 16
	metaRootOffset   = pageHeaderBytes + 16
	metaPageSizeOffs = pageHeaderBytes + 8
	metaTxidOffset   = pageHeaderBytes + 48
)

type boltFile struct {
	data     []byte
	pageSize int
}

func readBolt(t *testing.T, path string) boltFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return boltFile{data: data, pageSize: int(binary.LittleEndian.Uint32(data[metaPageSizeOffs:]))}
}

func (b boltFile) page(id uint64) []byte { return b.data[int(id)*b.pageSize:] }

func (b boltFile) flags(id uint64) uint16 { return binary.LittleEndian.Uint16(b.page(id)[8:]) }

func (b boltFile) count(id uint64) int { return int(binary.LittleEndian.Uint16(b.page(id)[10:])) }

// activeMeta is the meta page with the higher transaction id.
func (b boltFile) activeMeta() uint64 {
	t0 := binary.LittleEndian.Uint64(b.page(0)[metaTxidOffset:])
	t1 := binary.LittleEndian.Uint64(b.page(1)[metaTxidOffset:])
	if t1 > t0 {
		return 1
	}
	return 0
}

// bucketRoot finds the root page of the top-level bucket name.
func (b boltFile) bucketRoot(t *testing.T, name string) uint64 {
	t.Helper()
	root := binary.LittleEndian.Uint64(b.page(b.activeMeta())[metaRootOffset:])
	id := root
	for b.flags(id)&branchFlag != 0 {
		// Top-level buckets are few; follow the child whose range holds name.
		child := uint64(0)
		for i := range b.count(id) {
			key, c := b.branchElement(id, i)
			if string(key) <= name {
				child = c
			}
		}
		id = child
	}
	for i := range b.count(id) {
		flags, key, value := b.leafElement(id, i)
		if flags&bucketLeafFlag != 0 && string(key) == name {
			r := binary.LittleEndian.Uint64(value)
			if r == 0 {
				t.Fatalf("bucket %q is inline", name)
			}
			return r
		}
	}
	t.Fatalf("no bucket %q", name)
	return 0
}

func (b boltFile) branchElement(id uint64, i int) (key []byte, child uint64) {
	p := b.page(id)
	e := p[pageHeaderBytes+i*elementBytes:]
	pos := int(binary.LittleEndian.Uint32(e[0:]))
	ksize := int(binary.LittleEndian.Uint32(e[4:]))
	return e[pos : pos+ksize], binary.LittleEndian.Uint64(e[8:])
}

func (b boltFile) leafElement(id uint64, i int) (flags uint32, key, value []byte) {
	p := b.page(id)
	e := p[pageHeaderBytes+i*elementBytes:]
	flags = binary.LittleEndian.Uint32(e[0:])
	pos := int(binary.LittleEndian.Uint32(e[4:]))
	ksize := int(binary.LittleEndian.Uint32(e[8:]))
	vsize := int(binary.LittleEndian.Uint32(e[12:]))
	return flags, e[pos : pos+ksize], e[pos+ksize : pos+ksize+vsize]
}

// leftmost descends from the root of a bucket through first children:
// the first page of the given kind below the root. Sanity checks read the
// rightmost path only, so damage here is for the full check to find.
func (b boltFile) leftmost(t *testing.T, root uint64, flag uint16) uint64 {
	t.Helper()
	id := root
	for b.flags(id)&branchFlag != 0 {
		_, child := b.branchElement(id, 0)
		if b.flags(child)&flag != 0 {
			return child
		}
		id = child
	}
	t.Fatalf("no page with flags %#x below page %d", flag, root)
	return 0
}

// flipBit flips one bit of the file at path.
func flipBit(t *testing.T, path string, offset int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}
