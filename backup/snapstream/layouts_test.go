package snapstream

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// TestInspectorLayouts covers bbolt layouts built directly: ones etcd writes rarely (a
// branch root bucket, a meta bucket of its own), ones older etcd versions or crashes leave
// (a key bucket ending below a compaction, stale revisions on freed pages) and malformed
// ones.
func TestInspectorLayouts(t *testing.T) {
	tests := []struct {
		name      string
		build     func(t *testing.T) []byte
		shape     func(t *testing.T, stream []byte)
		revision  int64 // 0: the revision must match the file's own facts only
		compacted int64
		wantErr   string // the ErrFormat's message names this
	}{
		{
			name:     "empty store",
			build:    func(t *testing.T) []byte { return newBoltDB(t, 4096).snapshot() },
			revision: 1,
		},
		{
			name: "last revision is a tombstone",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 10, 10)
				d.tombstone(11, 5)
				return d.snapshot()
			},
			revision: 11,
		},
		{
			name: "scheduled compaction above the keys",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 7, 10)
				d.setCompaction(5, 9)
				return d.snapshot()
			},
			revision:  9,
			compacted: 5,
		},
		{
			name: "finished compaction above the keys",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 7, 10)
				d.setCompaction(9, 9)
				return d.snapshot()
			},
			revision:  9,
			compacted: 9,
		},
		{
			name: "stale higher revisions on freed pages",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 3000, 50)
				d.drop(1001, 3000)
				return d.snapshot()
			},
			shape: func(t *testing.T, stream []byte) {
				if !bytes.Contains(stream, revisionKey(3000, false)) {
					t.Error("the dropped revisions are not in the stream")
				}
			},
			revision: 1000,
		},
		{
			name: "root bucket is a branch page",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.update(func(tx *bolt.Tx) {
					for i := range 40 {
						b := mustBucket(t, tx, fmt.Appendf(nil, "extra-%02d", i))
						for j := range 6 {
							if err := b.Put(fmt.Appendf(nil, "e%d", j), make([]byte, 100)); err != nil {
								t.Fatal(err)
							}
						}
					}
				})
				d.put(2, 50, 10)
				d.setCompaction(20, 20)
				return d.snapshot()
			},
			shape: func(t *testing.T, stream []byte) {
				if flags := pageFlags(t, stream, rootPage(t, stream)); flags != branchPageFlag {
					t.Errorf("root bucket page has flags %#x, want a branch page", flags)
				}
			},
			revision:  50,
			compacted: 20,
		},
		{
			name: "meta bucket on a page below the root",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 40, 10)
				fillMeta(d, 8, 200)
				d.setCompaction(30, 41)
				return d.snapshot()
			},
			shape: func(t *testing.T, stream []byte) {
				if meta, root := metaPage(t, stream), rootPage(t, stream); meta == 0 || meta > root {
					t.Errorf("meta bucket page %d, root page %d: want it below", meta, root)
				}
			},
			revision:  41,
			compacted: 30,
		},
		{
			name: "meta bucket on a page above the root",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				fillMeta(d, 8, 200)
				d.setCompaction(3, 4)
				for rev := int64(2); rev <= 40; rev++ {
					d.put(rev, rev, 10)
				}
				return d.snapshot()
			},
			shape: func(t *testing.T, stream []byte) {
				if meta, root := metaPage(t, stream), rootPage(t, stream); meta == 0 || meta < root {
					t.Errorf("meta bucket page %d, root page %d: want it above", meta, root)
				}
			},
			revision:  40,
			compacted: 3,
		},
		{
			name: "1 KiB pages, many keys",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 1024)
				d.put(2, 3000, 20)
				return d.snapshot()
			},
			revision: 3000,
		},
		{
			name: "16 KiB pages, many keys",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 16384)
				d.put(2, 20000, 20)
				return d.snapshot()
			},
			revision: 20000,
		},
		{
			name: "512-byte pages, last revision on overflow pages",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 512)
				d.put(2, 100, 20)
				d.put(101, 101, 300<<10)
				return d.snapshot()
			},
			revision: 101,
		},
		{
			name:    "no key bucket",
			wantErr: `no "key" bucket`,
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.update(func(tx *bolt.Tx) {
					if err := tx.DeleteBucket(schema.Key.Name()); err != nil {
						t.Fatal(err)
					}
				})
				return d.snapshot()
			},
		},
		{
			name:    "meta bucket spans several pages",
			wantErr: "meta bucket spans several pages",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				fillMeta(d, 200, 100)
				return d.snapshot()
			},
		},
		{
			name:    "last key is not a revision",
			wantErr: "last key is not an mvcc revision",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 10, 10)
				d.update(func(tx *bolt.Tx) {
					if err := tx.Bucket(schema.Key.Name()).Put([]byte("not-a-revision"), nil); err != nil {
						t.Fatal(err)
					}
				})
				return d.snapshot()
			},
		},
		{
			name:    "malformed compaction revision",
			wantErr: "compaction revision in the meta bucket is not an mvcc revision",
			build: func(t *testing.T) []byte {
				d := newBoltDB(t, 4096)
				d.put(2, 10, 10)
				d.setMeta(schema.FinishedCompactKeyName, []byte("5"))
				return d.snapshot()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := tt.build(t)
			if tt.shape != nil {
				tt.shape(t, stream)
			}
			for _, maxSpan := range []uint64{0, maxBufferedSpan} {
				for _, chunk := range []int{7, 4096, len(stream)} {
					info, err := inspect(stream, chunk, maxSpan)
					if tt.wantErr != "" {
						if !isFormat(err) || !strings.Contains(err.Error(), tt.wantErr) {
							t.Errorf("maxSpan %d, chunks of %d: got %+v, %v; want an ErrFormat", maxSpan, chunk, info, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("maxSpan %d, chunks of %d: %v", maxSpan, chunk, err)
					}
					if info.Revision != tt.revision || info.CompactRevision != tt.compacted {
						t.Errorf("maxSpan %d, chunks of %d: revision %d, compacted %d; want %d, %d",
							maxSpan, chunk, info.Revision, info.CompactRevision, tt.revision, tt.compacted)
					}
				}
			}
			if tt.wantErr == "" {
				info, _ := inspect(stream, len(stream), maxBufferedSpan)
				checkStream(t, info, stream)
			}
		})
	}
}

// fillMeta adds n entries of size bytes to the meta bucket, making it grow out of line.
func fillMeta(d *boltDB, n, size int) {
	d.tb.Helper()
	for i := range n {
		d.setMeta(fmt.Appendf(nil, "filler-%03d", i), make([]byte, size))
	}
}

func streamMeta(t *testing.T, stream []byte) boltMeta {
	t.Helper()
	m, err := decodeMeta(stream)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func rootPage(t *testing.T, stream []byte) uint64 { return streamMeta(t, stream).root }

func pageFlags(t *testing.T, stream []byte, pgid uint64) uint16 {
	t.Helper()
	return decodeHeader(stream[pgid*streamMeta(t, stream).pageSize:]).flags
}

// metaPage returns the meta bucket's root page, 0 when inline.
func metaPage(t *testing.T, stream []byte) uint64 {
	t.Helper()
	var pgid uint64
	withBolt(t, stream, func(tx *bolt.Tx) { pgid = uint64(tx.Bucket(schema.Meta.Name()).Root()) })
	return pgid
}

// TestInspectorIgnoresUnreachablePages puts page-shaped bytes where no live page starts:
// in the continuation slots of a large value. Every such slot looks like a leaf whose last
// key is a huge revision; only a walk from the root tells them apart.
func TestInspectorIgnoresUnreachablePages(t *testing.T) {
	const pageSize = 4096
	d := newBoltDB(t, pageSize)
	d.put(2, 30, 10)
	d.update(func(tx *bolt.Tx) {
		if err := mustBucket(t, tx, schema.Test.Name()).Put([]byte("big"), make([]byte, 64*pageSize)); err != nil {
			t.Fatal(err)
		}
	})
	d.put(31, 31, 10)
	stream := d.snapshot()

	var bigPage uint64
	var overflow uint32
	withBolt(t, stream, func(tx *bolt.Tx) {
		bigPage = uint64(tx.Bucket(schema.Test.Name()).Root())
		info, err := tx.Page(int(bigPage))
		if err != nil {
			t.Fatal(err)
		}
		overflow = uint32(info.OverflowCount)
	})
	if overflow < 2 {
		t.Fatalf("test bucket page %d has %d overflow pages", bigPage, overflow)
	}
	const fakeRevision = 1 << 40
	db := stream[:len(stream)-32]
	for slot := bigPage + 1; slot <= bigPage+uint64(overflow); slot++ {
		writeFakeLeaf(db[slot*pageSize:(slot+1)*pageSize], slot, revisionKey(fakeRevision, false))
	}
	stream = withTrailer(db)

	for _, maxSpan := range []uint64{0, maxBufferedSpan} {
		in := newInspector(maxSpan)
		if _, err := in.Write(stream); err != nil {
			t.Fatal(err)
		}
		info, err := in.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if s := in.summaries[bigPage+1]; s.kind() != kindLeaf || s.value() != fakeRevision {
			t.Fatalf("the fake page was not taken for a leaf (summary %#x)", uint64(s))
		}
		if info.Revision != 31 {
			t.Errorf("maxSpan %d: Revision %d, want 31", maxSpan, info.Revision)
		}
		checkStream(t, info, stream)
	}
}

// writeFakeLeaf writes a one-element leaf page with id pgid and key into b.
func writeFakeLeaf(b []byte, pgid uint64, key []byte) {
	clear(b)
	le.PutUint64(b, pgid)
	le.PutUint16(b[8:], leafPageFlag)
	le.PutUint16(b[10:], 1)
	e := b[pageHeaderSize:]
	le.PutUint32(e[4:], pageElementSize)
	le.PutUint32(e[8:], uint32(len(key)))
	copy(e[pageElementSize:], key)
}
