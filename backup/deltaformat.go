package backup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
)

// A delta segment's payload (what zstd and age wrap) is a magic line, then
// frames of one type byte, a uvarint length and that many bytes of one of
// etcd's own protobuf messages, then an end frame. See doc/format.md.
const deltaMagic = "etcdbr-delta-v1\n"

const (
	frameEvent byte = 'E' // mvccpb.Event; Kv.ModRevision is the event's revision
	frameLease byte = 'L' // leasepb.Lease: a lease that keys after it may use
	frameEnd   byte = 'Z' // uvarint count of the frames before it
)

// maxFrame bounds one frame, so damaged bytes cannot ask for a huge buffer.
// etcd's own request limit is far below it.
const maxFrame = 256 << 20

// DeltaWriter writes the payload of a delta segment.
type DeltaWriter struct {
	w      *bufio.Writer
	buf    []byte
	frames uint64
	// First and Last are the revisions of the first and last event written;
	// Events counts them.
	First, Last, Events int64
}

// NewDeltaWriter starts a payload on w.
func NewDeltaWriter(w io.Writer) (*DeltaWriter, error) {
	d := &DeltaWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := d.w.WriteString(deltaMagic); err != nil {
		return nil, err
	}
	return d, nil
}

// Event adds one event. Events go in revision order; the events of one
// revision (one etcd transaction) follow each other.
func (d *DeltaWriter) Event(ev *mvccpb.Event) error {
	if ev.Kv == nil {
		return errors.New("delta event without a key-value")
	}
	rev := ev.Kv.ModRevision
	if rev < d.Last {
		return fmt.Errorf("delta event at revision %d after one at %d", rev, d.Last)
	}
	if err := d.frame(frameEvent, ev); err != nil {
		return err
	}
	if d.Events == 0 {
		d.First = rev
	}
	d.Last = rev
	d.Events++
	return nil
}

// Lease records a lease (ID, granted TTL, remaining TTL when seen), written
// before the first event that attaches a key to it.
func (d *DeltaWriter) Lease(l *leasepb.Lease) error {
	return d.frame(frameLease, l)
}

type marshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

func (d *DeltaWriter) frame(typ byte, m marshaler) error {
	n := m.Size()
	if n > maxFrame {
		return fmt.Errorf("delta frame of %d bytes is over the %d limit", n, maxFrame)
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if _, err := m.MarshalToSizedBuffer(b); err != nil {
		return err
	}
	if err := d.head(typ, uint64(n)); err != nil {
		return err
	}
	_, err := d.w.Write(b)
	d.frames++
	return err
}

func (d *DeltaWriter) head(typ byte, n uint64) error {
	var h [1 + binary.MaxVarintLen64]byte
	h[0] = typ
	l := binary.PutUvarint(h[1:], n)
	_, err := d.w.Write(h[:1+l])
	return err
}

// Close writes the end frame and flushes; it does not close the writer
// underneath.
func (d *DeltaWriter) Close() error {
	var c [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(c[:], d.frames)
	if err := d.head(frameEnd, uint64(l)); err != nil {
		return err
	}
	if _, err := d.w.Write(c[:l]); err != nil {
		return err
	}
	return d.w.Flush()
}

// DeltaRecord is one entry of a delta segment: an event or a lease.
type DeltaRecord struct {
	Event *mvccpb.Event
	Lease *leasepb.Lease
}

// DeltaReader reads a payload written by DeltaWriter.
type DeltaReader struct {
	r      *bufio.Reader
	buf    []byte
	frames uint64
	ended  bool
}

// NewDeltaReader checks the magic line and returns a reader of the records.
func NewDeltaReader(r io.Reader) (*DeltaReader, error) {
	d := &DeltaReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(deltaMagic))
	if _, err := io.ReadFull(d.r, magic); err != nil {
		return nil, fmt.Errorf("%w: delta header: %v", ErrCorrupt, noEOF(err))
	}
	if string(magic) != deltaMagic {
		return nil, fmt.Errorf("%w: not a delta segment (header %q)", ErrCorrupt, magic)
	}
	return d, nil
}

// Next returns the next record, io.EOF after the end frame, or an error
// matching ErrCorrupt when the payload is damaged or cut short.
func (d *DeltaReader) Next() (DeltaRecord, error) {
	if d.ended {
		return DeltaRecord{}, io.EOF
	}
	typ, err := d.r.ReadByte()
	if err != nil {
		return DeltaRecord{}, fmt.Errorf("%w: delta segment ends without its end frame: %v", ErrCorrupt, noEOF(err))
	}
	n, err := binary.ReadUvarint(d.r)
	if err != nil {
		return DeltaRecord{}, fmt.Errorf("%w: delta frame length: %v", ErrCorrupt, noEOF(err))
	}
	if n > maxFrame {
		return DeltaRecord{}, fmt.Errorf("%w: delta frame of %d bytes", ErrCorrupt, n)
	}
	if uint64(cap(d.buf)) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return DeltaRecord{}, fmt.Errorf("%w: delta frame cut short: %v", ErrCorrupt, noEOF(err))
	}
	switch typ {
	case frameEvent:
		ev := new(mvccpb.Event)
		if err := ev.Unmarshal(b); err != nil {
			return DeltaRecord{}, fmt.Errorf("%w: delta event: %v", ErrCorrupt, err)
		}
		d.frames++
		return DeltaRecord{Event: ev}, nil
	case frameLease:
		l := new(leasepb.Lease)
		if err := l.Unmarshal(b); err != nil {
			return DeltaRecord{}, fmt.Errorf("%w: delta lease: %v", ErrCorrupt, err)
		}
		d.frames++
		return DeltaRecord{Lease: l}, nil
	case frameEnd:
		count, k := binary.Uvarint(b)
		if k <= 0 || k != len(b) || count != d.frames {
			return DeltaRecord{}, fmt.Errorf("%w: delta end frame counts %d frames, read %d", ErrCorrupt, count, d.frames)
		}
		if _, err := d.r.ReadByte(); err != io.EOF {
			return DeltaRecord{}, fmt.Errorf("%w: bytes after the delta end frame", ErrCorrupt)
		}
		d.ended = true
		return DeltaRecord{}, io.EOF
	default:
		return DeltaRecord{}, fmt.Errorf("%w: unknown delta frame type %#x", ErrCorrupt, typ)
	}
}

// noEOF turns a clean EOF inside a structure into an unexpected one.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
