package backup

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"etcdbrctl/providers"
)

// Records travel from fetchers to the applier in batches of at most this
// many records or bytes, and each segment buffers at most feedDepth batches
// ahead of the applier: memory is bounded by fetchers × feedDepth × batch
// size, whatever the segments hold.
const (
	batchRecords = 512
	batchBytes   = 1 << 20
	feedDepth    = 4
)

// segmentFeed carries one segment's records, in order, to the applier.
type segmentFeed struct {
	m       Manifest
	batches chan []DeltaRecord
	err     error // set before batches is closed
}

// feeds fetches, decrypts, decompresses and decodes delta segments with up
// to fetchers of them in flight at once. Segments are fetched ahead in
// order; the applier reads them in order.
type feeds struct {
	list []*segmentFeed
	wg   sync.WaitGroup
}

// startFeeds begins fetching segments. Each segment is read to its end, so
// its stored digest is checked even when the events past upTo are not
// delivered. Stop the context and call wait to end early.
func startFeeds(ctx context.Context, open openRecords, segments []Manifest, upTo int64, fetchers int) *feeds {
	f := &feeds{}
	for _, m := range segments {
		f.list = append(f.list, &segmentFeed{m: m, batches: make(chan []DeltaRecord, feedDepth)})
	}
	slots := make(chan struct{}, max(fetchers, 1))
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i, sf := range f.list {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for _, rest := range f.list[i:] {
					rest.err = ctx.Err()
					close(rest.batches)
				}
				return
			}
			f.wg.Add(1)
			go func() {
				defer func() { <-slots; f.wg.Done() }()
				sf.err = sf.fetch(ctx, open, upTo)
				close(sf.batches)
			}()
		}
	}()
	return f
}

func (f *feeds) wait() { f.wg.Wait() }

// openRecords opens a segment's records.
type openRecords func(ctx context.Context, m Manifest) (RecordReader, error)

func (sf *segmentFeed) fetch(ctx context.Context, open openRecords, upTo int64) error {
	s, err := open(ctx, sf.m)
	if err != nil {
		return err
	}
	defer s.Close()
	batch := make([]DeltaRecord, 0, batchRecords)
	size := 0
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		select {
		case sf.batches <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch, size = make([]DeltaRecord, 0, batchRecords), 0
		return nil
	}
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return send()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("delta segment %s: %w", sf.m.Name(), err)
		}
		if rec.Event != nil {
			if rec.Event.Kv.ModRevision > upTo {
				continue // read on: the digest covers the whole object
			}
			size += len(rec.Event.Kv.Key) + len(rec.Event.Kv.Value) + 64
		}
		batch = append(batch, rec)
		if len(batch) == batchRecords || size >= batchBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
}

// countingStore counts the stored bytes read through it, for progress.
type countingStore struct {
	providers.Store
	n *atomic.Int64
}

func (c countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return countingReader{rc, c.n}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}
