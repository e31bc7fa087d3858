package azblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// upload writes r to bb. An object smaller than one block goes up in a
// single request; a larger one is staged block by block, Concurrency blocks
// at a time, and becomes visible only with the final CommitBlockList. The
// first failure (the source's, a request's, or ctx's) stops reading at once,
// and nothing is committed.
func upload(ctx context.Context, bb *blockblob.Client, r io.Reader, opts Options) error {
	src := contextReader{ctx: ctx, r: r}
	// Small objects (manifests) are common: read a little first, and take a
	// whole block's buffer only when there is more.
	first := make([]byte, min(opts.BlockSize, smallObject))
	n, err := io.ReadFull(src, first)
	if err == nil && len(first) < int(opts.BlockSize) {
		block := make([]byte, opts.BlockSize)
		copy(block, first)
		var more int
		more, err = io.ReadFull(src, block[n:])
		first, n = block, n+more
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(first[:n])), nil)
		return withContextError(ctx, err)
	case err != nil:
		return withContextError(ctx, err)
	}
	s, err := newStager(ctx, bb, opts)
	if err != nil {
		return err
	}
	s.made = 1 // the first block's buffer
	s.stage(first)
	err = s.stageRest(src)
	if err := s.wait(err); err != nil {
		return withContextError(ctx, err)
	}
	_, err = bb.CommitBlockList(ctx, s.ids, nil)
	return withContextError(ctx, err)
}

// smallObject is how much is read before a whole block's buffer is taken.
const smallObject = 64 << 10

// stager stages blocks in the background, at most Concurrency at once.
type stager struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	bb     *blockblob.Client
	opts   Options
	idBase string // unique to this upload, so that concurrent uploads of one key do not mix blocks
	ids    []string
	free   chan []byte // buffers whose block has been sent
	made   int         // buffers allocated so far
	wg     sync.WaitGroup
}

func newStager(ctx context.Context, bb *blockblob.Client, opts Options) (*stager, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return &stager{
		ctx: ctx, cancel: cancel, bb: bb, opts: opts,
		idBase: hex.EncodeToString(id[:]),
		free:   make(chan []byte, opts.Concurrency),
	}, nil
}

// stageRest reads the source block by block until EOF or the first error.
func (s *stager) stageRest(src io.Reader) error {
	for {
		if s.ctx.Err() != nil { // a block failed: stop reading
			return context.Cause(s.ctx)
		}
		buf, err := s.buffer()
		if err != nil {
			return err
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			s.stage(buf[:n])
		} else {
			s.free <- buf
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// buffer returns a free block buffer, allocating one while fewer than
// Concurrency exist, else waiting for a block to be sent.
func (s *stager) buffer() ([]byte, error) {
	select {
	case buf := <-s.free:
		return buf, nil
	default:
	}
	if s.made < s.opts.Concurrency {
		s.made++
		return make([]byte, s.opts.BlockSize), nil
	}
	select {
	case buf := <-s.free:
		return buf, nil
	case <-s.ctx.Done():
		return nil, context.Cause(s.ctx)
	}
}

// stage sends data as the next block in the background; its buffer goes
// back to the free list once sent.
func (s *stager) stage(data []byte) {
	buf := data[:s.opts.BlockSize:s.opts.BlockSize]
	if len(s.ids) == maxBlocks {
		s.cancel(fmt.Errorf("object exceeds %d blocks of %d bytes; raise the block size", maxBlocks, s.opts.BlockSize))
		s.free <- buf
		return
	}
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%05d", s.idBase, len(s.ids)))
	s.ids = append(s.ids, id)
	s.wg.Go(func() {
		if _, err := s.bb.StageBlock(s.ctx, id, streaming.NopCloser(bytes.NewReader(data)), nil); err != nil {
			s.cancel(err)
		}
		s.free <- buf
	})
}

// wait ends the upload's background work and returns the first failure.
func (s *stager) wait(readErr error) error {
	if readErr != nil {
		s.cancel(readErr)
	}
	s.wg.Wait()
	err := context.Cause(s.ctx)
	s.cancel(nil)
	return err
}

// contextReader stops handing out bytes once ctx is done, so that an upload
// ends as soon as its caller gives up, even while the source still flows.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// withContextError makes sure that a failure caused by the caller's
// cancellation matches ctx's error.
func withContextError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}
