package backup

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// copyFanOut copies src to every writer. Reading and each writer run on
// goroutines of their own, so receiving the snapshot, checking it and
// compressing it overlap instead of taking turns. At most depth chunks of
// chunkSize bytes are in flight, which bounds memory.
func copyFanOut(src io.Reader, chunkSize, depth int, dsts ...io.Writer) error {
	type chunk struct {
		b    []byte
		refs atomic.Int32
	}
	free := make(chan []byte, depth)
	for range depth {
		free <- make([]byte, chunkSize)
	}
	var (
		errOnce  sync.Once
		firstErr error
		stop     = make(chan struct{})
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; close(stop) })
	}

	queues := make([]chan *chunk, len(dsts))
	var wg sync.WaitGroup
	for i, w := range dsts {
		queues[i] = make(chan *chunk, depth)
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := false
			for c := range queues[i] {
				if !failed {
					if _, err := w.Write(c.b); err != nil {
						fail(err)
						failed = true
					}
				}
				if c.refs.Add(-1) == 0 {
					free <- c.b[:cap(c.b)]
				}
			}
		}()
	}

	// The reader runs here; writers drain their queues after it stops.
	func() {
		defer func() {
			for _, q := range queues {
				close(q)
			}
		}()
		for {
			var buf []byte
			select {
			case <-stop:
				return
			case buf = <-free:
			}
			n, err := io.ReadFull(src, buf)
			if n > 0 {
				c := &chunk{b: buf[:n]}
				c.refs.Store(int32(len(queues)))
				for _, q := range queues {
					q <- c
				}
			} else {
				free <- buf
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				fail(err)
				return
			}
		}
	}()
	wg.Wait()
	return firstErr
}
