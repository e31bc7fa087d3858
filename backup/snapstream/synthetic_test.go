package snapstream

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// boltDB builds an etcd-shaped bbolt file directly, to reach layouts a live etcd rarely
// or never writes.
type boltDB struct {
	tb testing.TB
	db *bolt.DB
}

func newBoltDB(tb testing.TB, pageSize int) *boltDB {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "db"), 0o600, &bolt.Options{PageSize: pageSize, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	d := &boltDB{tb: tb, db: db}
	d.update(func(tx *bolt.Tx) {
		mustBucket(tb, tx, schema.Key.Name())
		mustBucket(tb, tx, schema.Meta.Name())
	})
	return d
}

func mustBucket(tb testing.TB, tx *bolt.Tx, name []byte) *bolt.Bucket {
	tb.Helper()
	b, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (d *boltDB) update(fn func(tx *bolt.Tx)) {
	d.tb.Helper()
	if err := d.db.Update(func(tx *bolt.Tx) error { fn(tx); return nil }); err != nil {
		d.tb.Fatal(err)
	}
}

// put writes revisions [from, to] to the key bucket, one key each, with values of size.
func (d *boltDB) put(from, to int64, size int) {
	d.tb.Helper()
	d.update(func(tx *bolt.Tx) {
		keys := tx.Bucket(schema.Key.Name())
		for rev := from; rev <= to; rev++ {
			kv := mvccpb.KeyValue{
				Key:            fmt.Appendf(nil, "k%d", rev),
				CreateRevision: rev,
				ModRevision:    rev,
				Version:        1,
				Value:          bytes.Repeat([]byte{'v'}, size),
			}
			value, err := kv.Marshal()
			if err != nil {
				d.tb.Fatal(err)
			}
			if err := keys.Put(revisionKey(rev, false), value); err != nil {
				d.tb.Fatal(err)
			}
		}
	})
}

// tombstone writes a deletion of key k<of> at revision rev.
func (d *boltDB) tombstone(rev, of int64) {
	d.tb.Helper()
	d.update(func(tx *bolt.Tx) {
		kv := mvccpb.KeyValue{Key: fmt.Appendf(nil, "k%d", of)}
		value, err := kv.Marshal()
		if err != nil {
			d.tb.Fatal(err)
		}
		if err := tx.Bucket(schema.Key.Name()).Put(revisionKey(rev, true), value); err != nil {
			d.tb.Fatal(err)
		}
	})
}

// drop deletes revisions [from, to] from the key bucket, as an old etcd's compaction could.
func (d *boltDB) drop(from, to int64) {
	d.tb.Helper()
	d.update(func(tx *bolt.Tx) {
		for rev := from; rev <= to; rev++ {
			if err := tx.Bucket(schema.Key.Name()).Delete(revisionKey(rev, false)); err != nil {
				d.tb.Fatal(err)
			}
		}
	})
}

// setMeta writes key=value into the meta bucket.
func (d *boltDB) setMeta(key, value []byte) {
	d.tb.Helper()
	d.update(func(tx *bolt.Tx) {
		if err := tx.Bucket(schema.Meta.Name()).Put(key, value); err != nil {
			d.tb.Fatal(err)
		}
	})
}

func (d *boltDB) setCompaction(finished, scheduled int64) {
	d.tb.Helper()
	if finished > 0 {
		d.setMeta(schema.FinishedCompactKeyName, revisionKey(finished, false))
	}
	if scheduled > 0 {
		d.setMeta(schema.ScheduledCompactKeyName, revisionKey(scheduled, false))
	}
}

// snapshot returns what etcd's Maintenance.Snapshot would stream for the database.
func (d *boltDB) snapshot() []byte {
	d.tb.Helper()
	var buf bytes.Buffer
	if err := d.db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(&buf)
		return err
	}); err != nil {
		d.tb.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return append(buf.Bytes(), sum[:]...)
}

func revisionKey(main int64, tombstone bool) []byte {
	key := mvcc.RevToBytes(mvcc.Revision{Main: main}, mvcc.NewRevBytes())
	if tombstone {
		key = append(key, 't')
	}
	return key
}

// withTrailer returns db bytes followed by their sha256.
func withTrailer(db []byte) []byte {
	sum := sha256.Sum256(db)
	return append(bytes.Clone(db), sum[:]...)
}
