package backup

import (
	"context"
	"fmt"
	"io"
	"time"

	"etcdbrctl/providers"
)

// WriteDelta streams a delta segment holding revisions from..to through the
// codec into the store, then commits it with a manifest. fill writes the
// segment's records; every event it writes must lie in from..to. Time is
// when the segment's first change was seen.
func WriteDelta(ctx context.Context, store providers.Store, enc Encryption, from, to int64, now time.Time, fill func(*DeltaWriter) error) (Manifest, error) {
	if from < 1 || to < from {
		return Manifest{}, fmt.Errorf("delta revision range %d-%d is empty or backwards", from, to)
	}
	m, err := newManifest(KindDelta, now, enc)
	if err != nil {
		return Manifest{}, err
	}
	m.FromRevision, m.Revision = from, to
	var dw *DeltaWriter
	stored, err := streamObject(ctx, store, m.Data, enc, func(e io.Writer) error {
		var err error
		if dw, err = NewDeltaWriter(e); err != nil {
			return err
		}
		if err := fill(dw); err != nil {
			return fmt.Errorf("delta %d-%d: %w", from, to, err)
		}
		if dw.Events > 0 && (dw.First < from || dw.Last > to) {
			return fmt.Errorf("delta %d-%d holds events of revisions %d-%d", from, to, dw.First, dw.Last)
		}
		m.Events = dw.Events
		return dw.Close()
	}, func() error { return nil })
	if err != nil {
		return Manifest{}, err
	}
	m.Size, m.SHA256 = stored.n, stored.sha
	m.Finished = time.Now().UTC()
	if err := putManifest(context.WithoutCancel(ctx), store, m); err != nil {
		return Manifest{}, fmt.Errorf("commit %s: %w", m.Name(), err)
	}
	return m, nil
}

// DeltaStream reads the records of a stored delta segment. Its last Next
// returns io.EOF only after the stored digest and size have been checked.
type DeltaStream struct {
	m    Manifest
	body io.ReadCloser
	dec  *decoder
	r    *DeltaReader
}

// OpenDelta starts reading the delta segment m describes.
func OpenDelta(ctx context.Context, store providers.Store, m Manifest, enc Encryption) (*DeltaStream, error) {
	if m.Kind != KindDelta {
		return nil, fmt.Errorf("%s is not a delta segment", m.Name())
	}
	body, err := store.Get(ctx, m.Data)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", m.Data, err)
	}
	dec, err := newDecoder(contextReader{ctx, body}, m, enc)
	if err != nil {
		body.Close()
		return nil, err
	}
	r, err := NewDeltaReader(dec)
	if err != nil {
		dec.Close()
		body.Close()
		return nil, fmt.Errorf("%s: %w", m.Data, err)
	}
	return &DeltaStream{m: m, body: body, dec: dec, r: r}, nil
}

// Next returns the next record. Events outside the manifest's revision
// range are reported as corruption.
func (s *DeltaStream) Next() (DeltaRecord, error) {
	rec, err := s.r.Next()
	if err == io.EOF {
		if verr := s.dec.Verify(); verr != nil {
			return DeltaRecord{}, verr
		}
		return DeltaRecord{}, io.EOF
	}
	if err != nil {
		if s.dec.stored.err != nil { // a digest mismatch explains the damage best
			return DeltaRecord{}, s.dec.stored.err
		}
		return DeltaRecord{}, fmt.Errorf("%s: %w", s.m.Data, err)
	}
	if ev := rec.Event; ev != nil && (ev.Kv.ModRevision < s.m.FromRevision || ev.Kv.ModRevision > s.m.Revision) {
		return DeltaRecord{}, fmt.Errorf("%s: %w: event at revision %d outside %d-%d", s.m.Data, ErrCorrupt, ev.Kv.ModRevision, s.m.FromRevision, s.m.Revision)
	}
	return rec, nil
}

// Close releases the stream.
func (s *DeltaStream) Close() error {
	s.dec.Close()
	return s.body.Close()
}
