package swift

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// smallBufferSize is what Put reads before it commits to a whole segment
// buffer, so that small objects (manifests, deltas) cost little memory.
const smallBufferSize = 256 << 10

// cleanupTimeout bounds the deletions after a failed or cancelled Put, which
// run on a context of their own: the caller's may be the one cancelled.
const cleanupTimeout = 2 * time.Minute

// Put writes the object: with a single PUT when it fits in one segment,
// else as a static large object whose manifest is written after the last
// segment. On any error nothing new is visible and the segments written so
// far are deleted (best effort).
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.put(ctx, key, r); err != nil {
		return fmt.Errorf("swift store: put %q in container %q: %w", key, s.container, err)
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) error {
	if err := validateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.conn.get(ctx)
	if err != nil {
		return err
	}
	src := &ctxReader{ctx: ctx, r: r}
	small := make([]byte, min(s.segmentSize, smallBufferSize))
	n, full, err := fill(src, small)
	if err != nil {
		return err
	}
	if !full {
		return s.putSingle(ctx, c, key, small[:n])
	}
	buf := make([]byte, s.segmentSize)
	copy(buf, small)
	m, full, err := fill(src, buf[n:])
	if err != nil {
		return err
	}
	n += m
	if !full {
		return s.putSingle(ctx, c, key, buf[:n])
	}
	var next [1]byte
	more, _, err := fill(src, next[:])
	if err != nil {
		return err
	}
	if more == 0 {
		return s.putSingle(ctx, c, key, buf)
	}
	return s.putLarge(ctx, c, key, src, buf, next[0])
}

// fill reads into buf until it is full or the source ends. An error is the
// source's (or the context's); the end of the source is not one.
func fill(r io.Reader, buf []byte) (n int, full bool, err error) {
	n, err = io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, true, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return n, false, nil
	}
	return n, false, err
}

// putSingle writes a whole object in one request, which Swift makes visible
// only once complete, then deletes the segments of the large object it may
// have replaced.
func (s *Store) putSingle(ctx context.Context, c *gophercloud.ServiceClient, key string, data []byte) error {
	old, err := s.ownSegments(ctx, c, key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := putBytes(ctx, c, objectURL(c, s.container, s.name(key)), data); err != nil {
		return err
	}
	s.deleteReplaced(ctx, c, old)
	return nil
}

// manifestEntry is one segment in an SLO manifest as it is written.
type manifestEntry struct {
	Path      string `json:"path"`
	Etag      string `json:"etag"`
	SizeBytes int64  `json:"size_bytes"`
}

// putLarge uploads buf (full) as the first segment, then the rest of src
// one segment at a time through the same buffer, each read while it is
// sent, next being the byte read after buf; the manifest comes last.
func (s *Store) putLarge(ctx context.Context, c *gophercloud.ServiceClient, key string, src io.Reader, buf []byte, next byte) (err error) {
	maxSegments, err := s.prepareSegments(ctx, c)
	if err != nil {
		return err
	}
	upload := newUploadID(time.Now())
	var written []string
	defer func() {
		if err != nil && len(written) > 0 {
			cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			s.deleteSegments(cleanupCtx, c, written)
		}
	}()
	var manifest []manifestEntry
	for index, more := 0, true; more; index++ {
		if index >= maxSegments {
			return fmt.Errorf("the object needs more than %d segments of %d bytes, the most this Swift cluster allows in a manifest; use a larger segment size", maxSegments, s.segmentSize)
		}
		name := segmentName(s.name(key), upload, index)
		// Counted before the request: a cancelled one may still complete.
		written = append(written, name)
		u := objectURL(c, s.segContainer, name)
		var size int
		var etag string
		if index == 0 {
			size = len(buf)
			etag, err = putBytes(ctx, c, u, buf)
		} else {
			size, etag, err = putStreamed(ctx, c, u, newSegmentBody(src, buf, next))
		}
		if errors.Is(err, errSource) {
			return err
		}
		if err != nil {
			return fmt.Errorf("segment %d (%q in container %q): %w", index, name, s.segContainer, err)
		}
		manifest = append(manifest, manifestEntry{Path: "/" + s.segContainer + "/" + name, Etag: etag, SizeBytes: int64(size)})
		// After the first segment, next is already known; after another,
		// a full buffer may or may not be the end.
		if more = size == len(buf); more && index > 0 {
			var b [1]byte
			k, _, err := fill(src, b[:])
			if err != nil {
				return err
			}
			more, next = k == 1, b[0]
		}
	}
	return s.putManifest(ctx, c, key, manifest)
}

// errSource marks an upload that failed because its source did; the
// source's own error is wrapped beside it.
var errSource = errors.New("reading the source")

// putStreamed uploads one segment as body reads it, and checks the MD5
// Swift computed against the one of the bytes read.
func putStreamed(ctx context.Context, c *gophercloud.ServiceClient, u string, body *segmentBody) (size int, etag string, err error) {
	resp, reqErr := request(ctx, c, http.MethodPut, u, &gophercloud.RequestOpts{
		RawBody:     body.reader(),
		MoreHeaders: map[string]string{"Content-Type": "application/octet-stream"},
		OkCodes:     []int{http.StatusCreated},
	})
	size, etag, srcErr := body.finish()
	switch {
	case srcErr != nil:
		return 0, "", fmt.Errorf("%w: %w", errSource, srcErr)
	case reqErr != nil:
		return 0, "", reqErr
	}
	if got := strings.Trim(resp.Header.Get("Etag"), `"`); got != etag {
		return 0, "", fmt.Errorf("Swift stored the segment with MD5 %q, but the %d bytes sent have MD5 %s", got, size, etag)
	}
	return size, etag, nil
}

// putManifest makes the large object visible, unless ctx was cancelled
// after the last read, and then deletes the segments of an object it
// replaced.
func (s *Store) putManifest(ctx context.Context, c *gophercloud.ServiceClient, key string, manifest []manifestEntry) error {
	old, err := s.ownSegments(ctx, c, key)
	if err != nil {
		return err
	}
	body, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err = request(ctx, c, http.MethodPut, objectURL(c, s.container, s.name(key))+"?multipart-manifest=put", &gophercloud.RequestOpts{
		RawBody:     bytes.NewReader(body),
		MoreHeaders: map[string]string{"Content-Type": "application/octet-stream"},
		OkCodes:     []int{http.StatusCreated},
	})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	s.deleteReplaced(ctx, c, old)
	return nil
}

// putBytes writes data to u with its MD5, which Swift checks, and returns
// the MD5 in hex. The body is in memory, so a failed try can be repeated.
func putBytes(ctx context.Context, c *gophercloud.ServiceClient, u string, data []byte) (string, error) {
	sum := md5.Sum(data)
	etag := hex.EncodeToString(sum[:])
	_, err := request(ctx, c, http.MethodPut, u, &gophercloud.RequestOpts{
		RawBody: bytes.NewReader(data),
		MoreHeaders: map[string]string{
			"Content-Type": "application/octet-stream",
			"ETag":         etag,
		},
		OkCodes: []int{http.StatusCreated},
	})
	return etag, err
}

// deleteReplaced deletes the segments of an object a Put replaced. Failures
// leave orphans that RemoveLeftovers collects later; the Put itself
// succeeded.
func (s *Store) deleteReplaced(ctx context.Context, c *gophercloud.ServiceClient, segments []string) {
	if len(segments) == 0 {
		return
	}
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.deleteSegments(cleanupCtx, c, segments)
}

// ctxReader stops a copy at the first read after ctx is done, so that a
// cancelled Put does not drain its source.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if ctxErr := c.ctx.Err(); ctxErr != nil {
		return 0, ctxErr
	}
	return n, err
}
