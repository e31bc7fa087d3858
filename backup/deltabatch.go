package backup

import (
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
)

// frameOverhead is what a frame adds to its message: a type byte and a
// length of at most 5 bytes for any frame a batch holds.
const frameOverhead = 6

// deltaBatch is the changes of whole revisions waiting to become one delta
// segment. Its size is what its records take encoded, the unit of
// --delta-snapshot-memory-limit.
type deltaBatch struct {
	records   []DeltaRecord
	bytes     int64
	last      int64     // revision of the newest event
	firstSeen time.Time // when its oldest change arrived
}

func (b *deltaBatch) empty() bool { return b == nil || len(b.records) == 0 }

func (b *deltaBatch) size() int64 {
	if b == nil {
		return 0
	}
	return b.bytes
}

// addRevision appends the lease records a revision needs, then its events.
func (b *deltaBatch) addRevision(leases []*leasepb.Lease, events []*mvccpb.Event, seen time.Time) {
	if b.empty() {
		b.firstSeen = seen
	}
	for _, l := range leases {
		b.records = append(b.records, DeltaRecord{Lease: l})
		b.bytes += int64(l.Size()) + frameOverhead
	}
	for _, ev := range events {
		b.records = append(b.records, DeltaRecord{Event: ev})
		b.bytes += int64(ev.Size()) + frameOverhead
	}
	b.last = events[len(events)-1].Kv.ModRevision
}

// prepend puts older, not yet stored changes (a failed upload's) in front.
func (b *deltaBatch) prepend(older *deltaBatch) {
	if older.empty() {
		return
	}
	if b.empty() {
		*b = *older
		return
	}
	b.records = append(older.records[:len(older.records):len(older.records)], b.records...)
	b.bytes += older.bytes
	b.firstSeen = older.firstSeen
}

// fill writes the batch's records into a segment.
func (b *deltaBatch) fill(w *DeltaWriter) error {
	for _, r := range b.records {
		var err error
		if r.Lease != nil {
			err = w.Lease(r.Lease)
		} else {
			err = w.Event(r.Event)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
