package datadir

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// readRevision returns the revision etcd would start at on this db, by the
// rule of etcd's mvcc restore: the newest main revision in the key bucket,
// raised to the finished or scheduled compaction revision (a compaction can
// remove the newest revisions when they were deletions), and at least 1.
// A malformed revision makes etcd's decoder panic; that comes back as an
// error here.
func readRevision(tx *bolt.Tx) (rev int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("revision: %v", p)
		}
	}()
	for _, b := range []backend.Bucket{schema.Key, schema.Meta} {
		if tx.Bucket(b.Name()) == nil {
			return 0, fmt.Errorf("bucket %q missing", b.Name())
		}
	}

	rev = 1
	if last, _ := tx.Bucket(schema.Key.Name()).Cursor().Last(); last != nil {
		rev = max(rev, mvcc.BytesToRev(last).Main)
	}
	r := boltReader{tx: tx}
	if compacted, ok := mvcc.UnsafeReadFinishedCompact(r); ok {
		rev = max(rev, compacted)
	}
	if scheduled, ok := mvcc.UnsafeReadScheduledCompact(r); ok {
		rev = max(rev, scheduled)
	}
	return rev, nil
}

// boltReader serves etcd's backend.UnsafeReader from a plain bbolt
// transaction, so that etcd's own helpers decode its meta keys.
type boltReader struct {
	tx *bolt.Tx
}

// UnsafeRange follows etcd's backend: without endKey it looks up key alone;
// with it, the keys in [key, endKey), at most limit of them when limit > 0.
func (r boltReader) UnsafeRange(bucket backend.Bucket, key, endKey []byte, limit int64) (keys, vals [][]byte) {
	b := r.tx.Bucket(bucket.Name())
	if b == nil {
		return nil, nil
	}
	if len(endKey) == 0 {
		if v := b.Get(key); v != nil {
			return [][]byte{key}, [][]byte{v}
		}
		return nil, nil
	}
	c := b.Cursor()
	for k, v := c.Seek(key); k != nil && bytes.Compare(k, endKey) < 0; k, v = c.Next() {
		keys, vals = append(keys, k), append(vals, v)
		if limit > 0 && int64(len(keys)) == limit {
			break
		}
	}
	return keys, vals
}

func (r boltReader) UnsafeForEach(bucket backend.Bucket, visitor func(k, v []byte) error) error {
	b := r.tx.Bucket(bucket.Name())
	if b == nil {
		return nil
	}
	return b.ForEach(visitor)
}
