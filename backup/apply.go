package backup

import (
	"fmt"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
	"go.uber.org/zap"
)

// applyCommitEvery bounds the changes held in one bbolt transaction (bbolt
// keeps a transaction's dirty pages in memory until it commits). Commits
// are not synced; the finished database is.
const applyCommitEvery = 8192

// applier writes delta events into an etcd database exactly as etcd's mvcc
// store writes them: each change under its (revision, sub-revision) key in
// the key bucket, the key-value as etcd marshals it, a deletion as a
// tombstone. An event carries everything mvcc would compute from its index
// (create revision, version, lease), so the in-memory index, which would
// have to be rebuilt from the whole snapshot first, is not needed.
//
// Revisions must continue without a gap: every revision after the
// snapshot's has at least one event (etcd only moves its revision for a
// transaction that changes something), so a missing revision means a
// missing or damaged segment, and is an error.
type applier struct {
	be backend.Backend
	tx backend.BatchTx

	rev  int64 // last revision applied
	sub  int64 // sub-revision of its last change
	skip int64 // events up to this revision are already applied

	pending     map[int64]*leasepb.Lease // lease records seen, not yet needed
	known       map[int64]bool           // lease ID -> it was in the snapshot
	added       map[int64]int            // leases added from segments -> keys attached
	keyLease    map[string]int64         // key -> lease added from segments
	missedLease int                      // keys attached to a lease no record describes

	revision atomic.Int64 // for progress
	events   atomic.Int64
}

func openApplier(path string, rev int64, lg *zap.Logger) *applier {
	cfg := backend.DefaultBackendConfig(lg)
	cfg.Path = path
	cfg.BatchLimit = applyCommitEvery
	cfg.BatchInterval = time.Hour // commit by size only
	cfg.UnsafeNoFsync = true      // the finished database is synced once
	be := backend.New(cfg)
	a := &applier{
		be:       be,
		tx:       be.BatchTx(),
		rev:      rev,
		pending:  map[int64]*leasepb.Lease{},
		known:    map[int64]bool{},
		added:    map[int64]int{},
		keyLease: map[string]int64{},
	}
	a.revision.Store(rev)
	return a
}

// startSegment marks where a new segment begins: its events up to the last
// revision applied (a segment may overlap the one before it, or the full
// snapshot) are skipped.
func (a *applier) startSegment() { a.skip = a.rev }

// apply writes a batch of records of segment m, in order.
func (a *applier) apply(m Manifest, batch []DeltaRecord) error {
	a.tx.LockOutsideApply()
	defer a.tx.Unlock()
	for _, rec := range batch {
		if rec.Lease != nil {
			a.pending[rec.Lease.ID] = rec.Lease
			continue
		}
		if err := a.event(m, rec.Event); err != nil {
			return err
		}
	}
	a.revision.Store(a.rev)
	return nil
}

func (a *applier) event(m Manifest, ev *mvccpb.Event) error {
	kv := ev.Kv
	rev := kv.ModRevision
	switch {
	case rev <= a.skip:
		return nil
	case rev == a.rev:
		a.sub++
	case rev == a.rev+1:
		a.rev, a.sub = rev, 0
	default:
		return fmt.Errorf("delta segment %s: %w: event at revision %d follows revision %d: revisions %d-%d are missing",
			m.Name(), ErrCorrupt, rev, a.rev, a.rev+1, rev-1)
	}
	key := mvcc.RevToBytes(mvcc.Revision{Main: rev, Sub: a.sub}, mvcc.NewRevBytes())
	var stored mvccpb.KeyValue
	switch ev.Type {
	case mvccpb.PUT:
		if kv.CreateRevision < 1 || kv.CreateRevision > rev || kv.Version < 1 {
			return fmt.Errorf("delta segment %s: %w: put of %q at revision %d has create revision %d, version %d",
				m.Name(), ErrCorrupt, kv.Key, rev, kv.CreateRevision, kv.Version)
		}
		stored = *kv
		stored.Lease = a.attach(string(kv.Key), kv.Lease)
	case mvccpb.DELETE:
		key = append(key, 't') // mvcc's tombstone mark
		stored = mvccpb.KeyValue{Key: kv.Key}
		a.attach(string(kv.Key), 0)
	default:
		return fmt.Errorf("delta segment %s: %w: event of unknown type %d", m.Name(), ErrCorrupt, ev.Type)
	}
	val, err := stored.Marshal()
	if err != nil {
		return err
	}
	a.tx.UnsafeSeqPut(schema.Key, key, val)
	a.events.Add(1)
	return nil
}

// attach follows which leases, among those the segments add, still have
// keys; it writes a lease record to the lease bucket when a key first uses
// it, so etcd re-attaches the key when it starts. It returns the lease the
// key is stored with: 0 for a lease that neither the snapshot nor a record
// describes (backups of other tools record none), as a key attached to a
// lease etcd does not know would never expire and could not be revoked.
func (a *applier) attach(key string, id int64) int64 {
	if old, ok := a.keyLease[key]; ok {
		a.added[old]--
		delete(a.keyLease, key)
	}
	if id == 0 {
		return 0
	}
	if l, ok := a.pending[id]; ok {
		delete(a.pending, id)
		inSnapshot := a.inSnapshot(id)
		schema.MustUnsafePutLease(a.tx, l)
		if _, ok := a.added[id]; !ok && !inSnapshot {
			a.added[id] = 0
		}
	}
	if _, ok := a.added[id]; ok {
		a.added[id]++
		a.keyLease[key] = id
		return id
	}
	if !a.inSnapshot(id) {
		a.missedLease++
		return 0
	}
	return id
}

// inSnapshot says whether the lease was in the database before any
// segment's record was written.
func (a *applier) inSnapshot(id int64) bool {
	in, ok := a.known[id]
	if !ok {
		in = schema.MustUnsafeGetLease(a.tx, id) != nil
		a.known[id] = in
	}
	return in
}

// bump raises the revision by amount and marks the new revision compacted,
// as etcdutl's --bump-revision with --mark-compacted does: an empty entry
// at the new revision, which etcd takes as its current one, and a
// scheduled compaction there, so watches from older revisions fail.
func (a *applier) bump(amount int64) {
	rev := a.rev + amount
	a.tx.LockOutsideApply()
	a.tx.UnsafePut(schema.Key, mvcc.RevToBytes(mvcc.Revision{Main: rev}, mvcc.NewRevBytes()), []byte{})
	mvcc.UnsafeSetScheduledCompact(a.tx, rev)
	a.tx.Unlock()
}

// finish drops the leases the segments added whose keys are all gone by the
// target revision, and writes everything out (not synced).
func (a *applier) finish() error {
	a.tx.LockOutsideApply()
	for id, keys := range a.added {
		if keys == 0 {
			schema.UnsafeDeleteLease(a.tx, &leasepb.Lease{ID: id})
		}
	}
	a.tx.Unlock()
	a.be.ForceCommit()
	return a.be.Close()
}

// abandon closes the database without caring for what it holds.
func (a *applier) abandon() { a.be.Close() }
