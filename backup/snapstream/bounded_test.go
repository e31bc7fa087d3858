package snapstream

import (
	"hash/fnv"
	"runtime"
	"testing"
)

// craftedFile returns the first pages of a bbolt file that claims hwm pages of pageSize
// bytes: valid meta pages (root bucket at page 2), then zeroed data pages for the caller.
func craftedFile(pageSize, hwm, pages uint64) []byte {
	db := make([]byte, pageSize*pages)
	for id := range uint64(2) {
		p := db[id*pageSize:]
		le.PutUint64(p, id)
		le.PutUint16(p[8:], 0x04)
		m := p[pageHeaderSize:]
		le.PutUint32(m, boltMagic)
		le.PutUint32(m[4:], boltVersion)
		le.PutUint32(m[8:], uint32(pageSize))
		le.PutUint64(m[16:], 2)   // root bucket page
		le.PutUint64(m[32:], 3)   // freelist page
		le.PutUint64(m[40:], hwm) // high water mark
		le.PutUint64(m[48:], 10-id)
		fixMetaChecksum(p)
	}
	return db
}

// fixMetaChecksum recomputes the checksum of the meta page p.
func fixMetaChecksum(p []byte) {
	h := fnv.New64a()
	h.Write(p[pageHeaderSize:metaChecksumAt])
	le.PutUint64(p[metaChecksumAt:], h.Sum64())
}

// allocated runs fn and returns the bytes it allocated in total, garbage included.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestInspectorMemoryIsBounded feeds hostile files: memory must follow the page slots that
// actually arrive, never a size the file claims, and the buffered window must stay within
// its limit however many pages claim to be large.
func TestInspectorMemoryIsBounded(t *testing.T) {
	t.Run("claimed size", func(t *testing.T) {
		const pageSize, sent = 4096, 16 << 20
		in := NewInspector()
		zeros := make([]byte, 1<<16)
		got := allocated(func() {
			if _, err := in.Write(craftedFile(pageSize, 1<<40, 2)); err != nil {
				t.Fatal(err)
			}
			for range sent / len(zeros) {
				if _, err := in.Write(zeros); err != nil {
					t.Fatal(err)
				}
			}
		})
		// 8 bytes per slot that arrived, with append's growth, plus the meta pages.
		if limit := uint64(sent/pageSize*8*3 + 64<<10); got > limit {
			t.Errorf("allocated %d bytes for %d slots, want at most %d", got, sent/pageSize, limit)
		}
		if _, err := in.Finish(); !isFormat(err) {
			t.Errorf("Finish: %v, want a truncated stream", err)
		}
	})

	t.Run("every page claims the rest of the file", func(t *testing.T) {
		const pageSize, hwm = 512, 8192
		db := craftedFile(pageSize, hwm, hwm)
		for s := uint64(2); s < hwm; s++ {
			p := db[s*pageSize:]
			span := (hwm - s) * pageSize
			le.PutUint64(p, s)
			le.PutUint16(p[8:], leafPageFlag)
			le.PutUint16(p[10:], 1)
			le.PutUint32(p[12:], uint32(hwm-s-1))
			// The key sits at the very end of the span, so captures wait until the end.
			le.PutUint32(p[pageHeaderSize+4:], uint32(span-revisionKeyLen-pageHeaderSize))
			le.PutUint32(p[pageHeaderSize+8:], revisionKeyLen)
		}
		stream := withTrailer(db)
		in := NewInspector()
		var maxWindow, maxCaptures int
		got := allocated(func() {
			for chunk := stream; len(chunk) > 0; chunk = chunk[min(len(chunk), 4096):] {
				if _, err := in.Write(chunk[:min(len(chunk), 4096)]); err != nil {
					t.Fatal(err)
				}
				maxWindow = max(maxWindow, cap(in.window.buf))
				maxCaptures = max(maxCaptures, len(in.captures))
			}
		})
		if limit := 2*maxBufferedSpan + pageSize; maxWindow > limit {
			t.Errorf("window grew to %d bytes, want at most %d", maxWindow, limit)
		}
		if maxCaptures == 0 || maxCaptures > hwm {
			t.Errorf("%d captures pending at once, want some and at most one per slot", maxCaptures)
		}
		// Linear in the stream: far from a copy of each page's claimed span.
		if limit := uint64(3 * len(stream)); got > limit {
			t.Errorf("allocated %d bytes for a %d-byte stream, want at most %d", got, len(stream), limit)
		}
		if _, err := in.Finish(); !isFormat(err) {
			t.Errorf("Finish: %v, want ErrFormat", err)
		}
		t.Logf("window %d bytes, %d captures, %d bytes allocated", maxWindow, maxCaptures, got)
	})
}
