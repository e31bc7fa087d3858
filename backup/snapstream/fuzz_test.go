package snapstream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
)

// fuzzSeeds are small etcd-shaped snapshots with 512-byte pages.
func fuzzSeeds(f *testing.F) [][]byte {
	empty := newBoltDB(f, 512)

	inline := newBoltDB(f, 512)
	inline.put(2, 4, 5)

	branches := newBoltDB(f, 512)
	branches.put(2, 120, 5)
	branches.setCompaction(50, 60)

	overflow := newBoltDB(f, 512)
	overflow.put(2, 10, 5)
	overflow.put(11, 11, 3000)
	overflow.drop(3, 5)

	return [][]byte{empty.snapshot(), inline.snapshot(), branches.snapshot(), overflow.snapshot()}
}

// repaired makes data pass the checks that random mutations almost never pass, so that
// the fuzzer reaches the page walk: the meta pages' magic, version and checksums, and the
// sha256 trailer.
func repaired(data []byte) []byte {
	data = bytes.Clone(data)
	if len(data) < metaEnd+sha256.Size {
		return data
	}
	ps := uint64(le.Uint32(data[pageHeaderSize+8:]))
	for _, at := range []uint64{0, ps} {
		if at+metaEnd > uint64(len(data)) {
			break
		}
		p := data[at:]
		le.PutUint32(p[pageHeaderSize:], boltMagic)
		le.PutUint32(p[metaMagicEnd:], boltVersion)
		fixMetaChecksum(p)
	}
	db := data[:len(data)-sha256.Size]
	sum := sha256.Sum256(db)
	copy(data[len(db):], sum[:])
	return data
}

func FuzzInspector(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, uint16(4096), false)
		f.Add(seed, uint16(7), true)
	}
	f.Add([]byte("not a snapshot"), uint16(1), false)
	f.Add(craftedFile(512, 4, 4), uint16(100), true)

	f.Fuzz(func(t *testing.T, data []byte, chunk uint16, repair bool) {
		if repair {
			data = repaired(data)
		}
		chunkSize := int(chunk%8192) + 1
		results := map[uint64]Info{}
		for _, maxSpan := range []uint64{0, 4096} {
			whole, errWhole := inspect(data, len(data)+1, maxSpan)
			pieces, errPieces := inspect(data, chunkSize, maxSpan)
			if whole != pieces || (errWhole == nil) != (errPieces == nil) ||
				(errWhole != nil && errWhole.Error() != errPieces.Error()) {
				t.Fatalf("maxSpan %d: whole stream gives %+v, %v; chunks of %d give %+v, %v",
					maxSpan, whole, errWhole, chunkSize, pieces, errPieces)
			}
			if errWhole != nil {
				if !isFormat(errWhole) && !errors.Is(errWhole, ErrChecksum) {
					t.Fatalf("error matches neither ErrFormat nor ErrChecksum: %v", errWhole)
				}
				continue
			}
			if whole.DBSize+sha256.Size != int64(len(data)) || whole.SHA256 != sha256.Sum256(data[:whole.DBSize]) {
				t.Fatalf("accepted %d bytes with DBSize %d and a wrong trailer", len(data), whole.DBSize)
			}
			if whole.Revision < 1 || whole.CompactRevision < 0 || whole.CompactRevision > whole.Revision {
				t.Fatalf("implausible %+v", whole)
			}
			results[maxSpan] = whole
		}
		// Buffered or captured, a page gives the same facts; only a root or meta bucket
		// page too large to buffer may fail one way and not the other.
		if a, ok := results[0]; ok {
			if b, ok := results[4096]; ok && a != b {
				t.Fatalf("captured pages give %+v, buffered pages %+v", a, b)
			}
		}
	})
}
