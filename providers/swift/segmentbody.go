package swift

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync"
)

// segmentBody is the request body of one segment. It reads the source while
// the request sends it, so that producing the bytes (compressing, say) and
// uploading them overlap, and keeps what it read in the segment buffer, so
// that a failed try can be repeated: a repeat sends the kept bytes again and
// then goes on with the source. It ends at the buffer's size or at the end
// of the source.
//
// A mutex guards it because the HTTP transport may still be sending an
// abandoned try while the next one reads.
type segmentBody struct {
	mu     sync.Mutex
	src    io.Reader
	buf    []byte // buf[:filled] is what was read so far
	filled int
	sum    hash.Hash
	ended  bool  // the source ended, or the buffer is full
	srcErr error // the source's error, other than its end
	closed bool  // the buffer belongs to the next segment now
}

// newSegmentBody starts a segment with first, a byte already read from src.
func newSegmentBody(src io.Reader, buf []byte, first byte) *segmentBody {
	b := &segmentBody{src: src, buf: buf, filled: 1, sum: md5.New()}
	buf[0] = first
	b.sum.Write(buf[:1])
	b.ended = len(buf) == 1
	return b
}

// reader returns a body that sends the segment from its start.
func (b *segmentBody) reader() *segmentReader { return &segmentReader{b: b} }

// finish releases the buffer and returns the segment's size and MD5 in hex,
// or the source's error.
func (b *segmentBody) finish() (size int, md5hex string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	if b.srcErr != nil {
		return 0, "", b.srcErr
	}
	return b.filled, hex.EncodeToString(b.sum.Sum(nil)), nil
}

// full reports whether the segment took the whole buffer, so that the
// source may have more.
func (b *segmentBody) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.filled == len(b.buf)
}

var errSegmentClosed = errors.New("segment body read after its upload ended")

// readAt copies into p the segment's bytes from pos, reading the source
// when pos is past what was read so far.
func (b *segmentBody) readAt(p []byte, pos int) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errSegmentClosed
	}
	if pos == b.filled {
		if b.srcErr != nil {
			return 0, b.srcErr
		}
		if b.ended {
			return 0, io.EOF
		}
		n, err := b.src.Read(b.buf[b.filled:])
		b.sum.Write(b.buf[b.filled : b.filled+n])
		b.filled += n
		switch {
		case b.filled == len(b.buf), err == io.EOF:
			b.ended = true
		case err != nil:
			b.srcErr = err
		}
		if n == 0 {
			return 0, b.srcErr // nil: the caller reads again
		}
	}
	return copy(p, b.buf[pos:b.filled]), nil
}

// segmentReader is one try's view of a segmentBody.
type segmentReader struct {
	b   *segmentBody
	pos int
}

func (r *segmentReader) Read(p []byte) (int, error) {
	n, err := r.b.readAt(p, r.pos)
	r.pos += n
	return n, err
}

func (r *segmentReader) Close() error { return nil }

// Seek rewinds to the start, which is all gophercloud asks of a body it
// sends again after renewing a token.
func (r *segmentReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("segment body: only a rewind to the start is supported")
	}
	r.pos = 0
	return 0, nil
}

// Replay returns a body that sends the segment again from its start, or
// nil when that is impossible because the source failed.
func (r *segmentReader) Replay() io.ReadCloser {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if r.b.srcErr != nil || r.b.closed {
		return nil
	}
	return r.b.reader()
}
