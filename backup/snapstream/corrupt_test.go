package snapstream

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// realSnapshot returns the snapshot stream of an etcd holding a few hundred keys and a
// value on overflow pages.
func realSnapshot(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cli := startEtcd(t)
	putKeys(ctx, t, cli, "k/", 300, 100)
	put(ctx, t, cli, "big", 100<<10)
	_, stream := streamSnapshot(ctx, t, cli)
	return stream
}

func TestInspectorDetectsCorruption(t *testing.T) {
	stream := realSnapshot(t)
	info, err := inspect(stream, len(stream), maxBufferedSpan)
	if err != nil {
		t.Fatal(err)
	}
	size := int(info.DBSize)
	ps := int(streamMeta(t, stream).pageSize)

	t.Run("flipped byte", func(t *testing.T) {
		offsets := []struct {
			name string
			at   int
		}{
			{"page 0 header", 3},
			{"meta 0 page size", pageHeaderSize + 9},
			{"meta 0 root", pageHeaderSize + 16},
			{"meta 0 checksum", metaChecksumAt + 2},
			{"meta 0 padding", ps - 1},
			{"meta 1 high water mark", ps + pageHeaderSize + 40},
			{"first data page header", 2*ps + 8},
			{"middle of the file", size / 2},
			{"last byte of the file", size - 1},
			{"first byte of the trailer", size},
			{"last byte of the stream", len(stream) - 1},
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 20 {
			offsets = append(offsets, struct {
				name string
				at   int
			}{fmt.Sprintf("random %d", i), 2*ps + rng.IntN(len(stream)-2*ps)})
		}
		for _, o := range offsets {
			corrupt := bytes.Clone(stream)
			corrupt[o.at] ^= 0x10
			for _, chunk := range []int{1000, len(stream)} {
				_, err := inspect(corrupt, chunk, maxBufferedSpan)
				if !errors.Is(err, ErrChecksum) {
					t.Errorf("%s (offset %d), chunks of %d: got %v, want ErrChecksum", o.name, o.at, chunk, err)
				}
			}
		}
	})

	t.Run("flipped magic", func(t *testing.T) {
		corrupt := bytes.Clone(stream)
		corrupt[pageHeaderSize+1] ^= 0x01
		if _, err := inspect(corrupt, 1, maxBufferedSpan); !isFormat(err) {
			t.Errorf("got %v, want ErrFormat", err)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 10, metaEnd - 1, metaEnd, ps, 2*ps + 1, size / 2, size, len(stream) - 1} {
			_, err := inspect(stream[:n], 4096, maxBufferedSpan)
			if !errors.Is(err, ErrFormat) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("first %d bytes: got %v, want ErrFormat and io.ErrUnexpectedEOF", n, err)
			}
		}
	})

	t.Run("trailing bytes", func(t *testing.T) {
		in := NewInspector()
		if _, err := in.Write(stream); err != nil {
			t.Fatal(err)
		}
		if _, err := in.Write([]byte{0}); !isFormat(err) {
			t.Errorf("Write after the trailer: got %v, want ErrFormat", err)
		}
		if _, err := in.Finish(); !isFormat(err) {
			t.Errorf("Finish after a failed Write: got %v, want ErrFormat", err)
		}
	})
}

// TestInspectorRejectsForeignStreams checks that a stream that is not a bbolt file fails at
// the first Write that covers the meta page's magic, not at the end.
func TestInspectorRejectsForeignStreams(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(bytes.Repeat([]byte("etcd snapshot "), 1000)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 1<<16)
	rng := rand.NewChaCha8([32]byte{7})
	rng.Read(random)
	sum := sha256.Sum256(nil)

	tests := []struct {
		name   string
		stream []byte
		early  bool // Write must fail by the end of the magic
	}{
		{"gzip", gz.Bytes(), true},
		{"random", random, true},
		{"zeros", make([]byte, 1<<16), true},
		{"sha256 alone", sum[:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewInspector()
			var err error
			n := 0
			for n < len(tt.stream) && err == nil {
				_, err = in.Write(tt.stream[n : n+1])
				n++
			}
			if tt.early && (err == nil || n > metaMagicEnd) {
				t.Fatalf("Write failed after %d bytes with %v, want within the first %d", n, err, metaMagicEnd)
			}
			if err == nil {
				_, err = in.Finish()
			}
			if !isFormat(err) {
				t.Errorf("got %v, want ErrFormat", err)
			}
		})
	}
}
