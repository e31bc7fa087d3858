package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

type failingWriter struct {
	after int // bytes accepted before failing
	n     int
}

var errWrite = errors.New("write failed")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, errWrite
	}
	f.n += len(p)
	return len(p), nil
}

type failingReader struct{ r io.Reader }

var errRead = errors.New("read failed")

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errRead
	}
	return n, err
}

func TestCopyFanOut(t *testing.T) {
	src := make([]byte, 3<<20+12345)
	rand.Read(src)
	for _, tc := range []struct {
		name      string
		size      int
		chunk     int
		depth     int
		reader    func([]byte) io.Reader
		failAfter int // 0: writers never fail
		wantErr   error
	}{
		{"empty", 0, 1024, 2, nil, 0, nil},
		{"one byte", 1, 1024, 2, nil, 0, nil},
		{"odd sizes", len(src), 4093, 3, nil, 0, nil},
		{"depth one", len(src), 64 << 10, 1, nil, 0, nil},
		{"reader fails", len(src), 64 << 10, 4, func(b []byte) io.Reader { return failingReader{bytes.NewReader(b)} }, 0, errRead},
		{"writer fails", len(src), 64 << 10, 4, nil, 1 << 20, errWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := src[:tc.size]
			var r io.Reader = bytes.NewReader(data)
			if tc.reader != nil {
				r = tc.reader(data)
			}
			var a, b bytes.Buffer
			dsts := []io.Writer{&a, &b}
			if tc.failAfter > 0 {
				dsts[1] = &failingWriter{after: tc.failAfter}
			}
			err := copyFanOut(r, tc.chunk, tc.depth, dsts...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("copyFanOut = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (!bytes.Equal(a.Bytes(), data) || !bytes.Equal(b.Bytes(), data)) {
				t.Fatalf("writers got %d and %d bytes, want %d identical", a.Len(), b.Len(), len(data))
			}
		})
	}
}
