package gardener

import (
	"bufio"
	"compress/gzip"
	"compress/lzw"
	"compress/zlib"
	"context"
	"fmt"
	"io"

	"etcdbrctl/providers"
)

// open fetches a snapshot object and undoes its compression.
func open(ctx context.Context, store providers.Store, s Snapshot) (io.ReadCloser, error) {
	body, err := store.Get(ctx, s.Key)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", s.Key, err)
	}
	br := bufio.NewReaderSize(body, 64<<10)
	var r io.Reader
	switch s.Compression {
	case "":
		r = br
	case ".gz":
		zr, err := gzip.NewReader(br)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: gzip: %w", s.Key, err)
		}
		r = zr
	case ".zlib":
		zr, err := zlib.NewReader(br)
		if err != nil {
			body.Close()
			return nil, fmt.Errorf("%s: zlib: %w", s.Key, err)
		}
		r = zr
	case ".Z":
		// gardener's lzw: Go's compress/lzw, LSB order, 8-bit literals, no header.
		r = lzw.NewReader(br, lzw.LSB, 8)
	default:
		body.Close()
		return nil, fmt.Errorf("%s: unknown compression %q", s.Key, s.Compression)
	}
	return &object{Reader: ctxReader{ctx, r}, key: s.Key, body: body}, nil
}

// object reads a decompressed snapshot and names it in errors.
type object struct {
	io.Reader
	key  string
	body io.Closer
}

func (o *object) Read(p []byte) (int, error) {
	n, err := o.Reader.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", o.key, err)
	}
	return n, err
}

func (o *object) Close() error {
	if c, ok := o.Reader.(ctxReader).r.(io.Closer); ok {
		c.Close()
	}
	return o.body.Close()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// OpenFull returns the etcd database of a full snapshot, decompressed, with
// etcd's SHA-256 trailer still at its end (etcd's restore checks it).
func OpenFull(ctx context.Context, store providers.Store, s Snapshot) (io.ReadCloser, error) {
	if s.Kind != KindFull {
		return nil, fmt.Errorf("%s is not a full snapshot", s.Key)
	}
	return open(ctx, store, s)
}
