package datadir

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt meta page: a 16-byte page header, then the meta
// fields (magic, version, page size, flags, root bucket, free list, high
// water mark, txid) and an FNV-64a checksum over them, in the machine's
// byte order (little-endian on every platform etcd supports).
const (
	pageHeaderSize  = 16
	metaSumOffset   = 56 // bytes of meta the checksum covers
	metaSize        = 64
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	metaPageFlag    = 0x04
	metaPageSizeOff = 8
)

// checkMetaPages reads both meta pages of the bbolt file at path and
// returns a reason when one is damaged. bbolt silently falls back to the
// other meta page, so opening the db does not show this; a power cut
// cannot tear the few bytes a meta page's fields take, so a bad checksum
// means the file was damaged after it was written.
func checkMetaPages(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pageSize := uint32(0)
	for id := range int64(2) {
		off := id * int64(pageSize)
		buf := make([]byte, pageHeaderSize+metaSize)
		if _, err := f.ReadAt(buf, off); err != nil {
			if err == io.EOF {
				return fmt.Sprintf("meta page %d: the file ends before it", id), nil
			}
			return "", err
		}
		if reason := metaPageProblem(buf, uint64(id)); reason != "" {
			return fmt.Sprintf("meta page %d: %s", id, reason), nil
		}
		pageSize = binary.LittleEndian.Uint32(buf[pageHeaderSize+metaPageSizeOff:])
	}
	return "", nil
}

func metaPageProblem(page []byte, id uint64) string {
	if got := binary.LittleEndian.Uint64(page[0:8]); got != id {
		return fmt.Sprintf("page header says page %d", got)
	}
	if flags := binary.LittleEndian.Uint16(page[8:10]); flags != metaPageFlag {
		return fmt.Sprintf("page type flags %#x, want a meta page", flags)
	}
	meta := page[pageHeaderSize:]
	if magic := binary.LittleEndian.Uint32(meta[0:4]); magic != boltMagic {
		return fmt.Sprintf("magic %#x, not a bbolt file", magic)
	}
	if v := binary.LittleEndian.Uint32(meta[4:8]); v != boltVersion {
		return fmt.Sprintf("format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(meta[:metaSumOffset])
	if sum := binary.LittleEndian.Uint64(meta[metaSumOffset:metaSize]); sum != h.Sum64() {
		return "checksum mismatch (the page was damaged after it was written)"
	}
	if ps := binary.LittleEndian.Uint32(meta[metaPageSizeOff:]); ps < 512 || ps&(ps-1) != 0 {
		return fmt.Sprintf("page size %d", ps)
	}
	return ""
}
