package gardener

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"etcdbrctl/providers"
)

// ErrCorrupt is matched by the errors of a damaged gardener backup.
var ErrCorrupt = errors.New("gardener backup object is corrupt")

// DeltaReader streams the events of a gardener delta segment: a JSON array
// of {"etcdEvent": ..., "time": ...} followed by the SHA-256 of the JSON
// bytes. Events are decoded one at a time, so memory does not grow with
// the segment.
type DeltaReader struct {
	s      Snapshot
	obj    io.ReadCloser
	tr     *trailerReader
	dec    *json.Decoder
	last   int64
	closed bool
}

type deltaEvent struct {
	Event *mvccpb.Event `json:"etcdEvent"`
	Time  time.Time     `json:"time"`
}

// OpenDelta starts reading a delta segment.
func OpenDelta(ctx context.Context, store providers.Store, s Snapshot) (*DeltaReader, error) {
	if s.Kind != KindDelta {
		return nil, fmt.Errorf("%s is not a delta snapshot", s.Key)
	}
	obj, err := open(ctx, store, s)
	if err != nil {
		return nil, err
	}
	tr := &trailerReader{r: obj, h: sha256.New()}
	r := &DeltaReader{s: s, obj: obj, tr: tr, dec: json.NewDecoder(tr)}
	if err := r.expect('['); err != nil {
		obj.Close()
		return nil, err
	}
	return r, nil
}

func (r *DeltaReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", r.s.Key, ErrCorrupt, fmt.Sprintf(format, args...))
}

func (r *DeltaReader) expect(want json.Delim) error {
	tok, err := r.dec.Token()
	if err != nil {
		return r.readErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return r.corrupt("expected %q, found %v", want, tok)
	}
	return nil
}

func (r *DeltaReader) readErr(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.corrupt("%v", err)
	}
	return err
}

// Next returns the next event and the time it was seen. After the last
// one it checks the trailer and returns io.EOF.
func (r *DeltaReader) Next() (*mvccpb.Event, time.Time, error) {
	if r.closed {
		return nil, time.Time{}, io.EOF
	}
	if !r.dec.More() {
		if err := r.expect(']'); err != nil {
			return nil, time.Time{}, err
		}
		if err := r.finish(); err != nil {
			return nil, time.Time{}, err
		}
		r.closed = true
		return nil, time.Time{}, io.EOF
	}
	var ev deltaEvent
	if err := r.dec.Decode(&ev); err != nil {
		return nil, time.Time{}, r.readErr(err)
	}
	switch {
	case ev.Event == nil || ev.Event.Kv == nil:
		return nil, time.Time{}, r.corrupt("an entry without an etcd event")
	case ev.Event.Type != mvccpb.PUT && ev.Event.Type != mvccpb.DELETE:
		return nil, time.Time{}, r.corrupt("event of unknown type %d", ev.Event.Type)
	}
	rev := ev.Event.Kv.ModRevision
	if rev < r.last || rev < r.s.StartRevision || rev > r.s.LastRevision {
		return nil, time.Time{}, r.corrupt("event at revision %d out of order or outside %d-%d", rev, r.s.StartRevision, r.s.LastRevision)
	}
	r.last = rev
	return ev.Event, ev.Time, nil
}

// finish checks that exactly the 32-byte SHA-256 of the JSON follows it.
func (r *DeltaReader) finish() error {
	// What the JSON decoder read ahead past the array is trailer.
	rest, err := io.ReadAll(io.MultiReader(r.dec.Buffered(), r.tr))
	if err != nil {
		return err
	}
	trailer := r.tr.held
	jsonTail := bytes.TrimSpace(rest)
	if len(jsonTail) != 0 {
		return r.corrupt("%d unexpected bytes after the event list", len(jsonTail))
	}
	if len(trailer) != sha256.Size {
		return r.corrupt("the %d-byte SHA-256 trailer is missing", sha256.Size)
	}
	if got := r.tr.h.Sum(nil); !bytes.Equal(got, trailer) {
		return r.corrupt("sha256 of the events is %s, the trailer says %s", hex.EncodeToString(got), hex.EncodeToString(trailer))
	}
	return nil
}

// Close releases the object.
func (r *DeltaReader) Close() error { return r.obj.Close() }

// trailerReader passes on all but the last 32 bytes of r, hashing what it
// passes; at EOF, held is the trailer.
type trailerReader struct {
	r    io.Reader
	h    hash.Hash
	held []byte
	eof  bool
}

func (t *trailerReader) Read(p []byte) (int, error) {
	for {
		if len(t.held) > sha256.Size {
			n := copy(p, t.held[:len(t.held)-sha256.Size])
			t.h.Write(p[:n])
			t.held = t.held[n:]
			return n, nil
		}
		if t.eof {
			return 0, io.EOF
		}
		buf := make([]byte, max(len(p), 4096))
		n, err := t.r.Read(buf)
		t.held = append(t.held, buf[:n]...)
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return 0, err
		}
	}
}
