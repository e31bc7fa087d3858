package datadir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// maxCheckErrors is how many of bbolt's findings a Reason quotes.
const maxCheckErrors = 3

// keysPerContextCheck is how often the page walk looks at its context.
const keysPerContextCheck = 4096

// dbFindings is what inspecting the db found; reason is empty when the db
// is fine.
type dbFindings struct {
	state    State
	revision int64
	// consistentIndex is the last raft index applied to the db.
	consistentIndex uint64
	// members are the IDs (hex) in the db's members bucket.
	members []string
	reason  string
	err     error
}

// inspectDB reads the bbolt db at path in a goroutine of its own, so that
// it can turn faults into panics there and recover from them, and so that
// an ended ctx returns at once.
func (v validator) inspectDB(ctx context.Context, path string, mode Mode) (dbFindings, error) {
	done := make(chan dbFindings, 1)
	go func() { done <- v.readDB(ctx, path, mode) }()
	select {
	case found := <-done:
		return found, found.err
	case <-ctx.Done():
		return dbFindings{}, ctx.Err()
	}
}

func (v validator) readDB(ctx context.Context, path string, mode Mode) (found dbFindings) {
	// A corrupt db can point bbolt past the end of the file it mapped;
	// the fault must become a panic here rather than end the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			found = dbFindings{state: Invalid, revision: found.revision, reason: fmt.Sprintf("bbolt panicked: %v", p)}
		}
	}()

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: v.lockTimeout})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return dbFindings{state: InUse, reason: fmt.Sprintf(
			"locked by another process (a running etcd?); gave up waiting after %v", v.lockTimeout)}
	case errors.Is(err, fs.ErrPermission):
		return dbFindings{err: err}
	case err != nil:
		return dbFindings{state: Invalid, reason: fmt.Sprintf("open: %v", err)}
	}
	defer db.Close()

	found.state = Valid
	err = db.View(func(tx *bolt.Tx) error {
		if reason, err := checkSize(path, tx); err != nil || reason != "" {
			found.state, found.reason = Invalid, reason
			return err
		}
		rev, err := readRevision(tx)
		if err != nil {
			found.state, found.reason = Invalid, err.Error()
			return nil
		}
		found.revision = rev
		found.consistentIndex, _ = schema.UnsafeReadConsistentIndex(boltReader{tx: tx})
		if b := tx.Bucket(schema.Members.Name()); b != nil {
			b.ForEach(func(k, _ []byte) error {
				found.members = append(found.members, string(k))
				return nil
			})
		}
		if mode != Full {
			return nil
		}
		if reason, err := checkPages(ctx, tx); err != nil || reason != "" {
			found.state, found.reason = Invalid, reason
			return err
		}
		return nil
	})
	if err != nil {
		return dbFindings{err: err}
	}
	return found
}

// checkSize compares the file with the size its meta page claims. A
// shorter file was truncated, and reading its missing pages would fault.
func checkSize(path string, tx *bolt.Tx) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.Size() < tx.Size() {
		return fmt.Sprintf("truncated: the file has %d bytes, its pages need %d", info.Size(), tx.Size()), nil
	}
	return "", nil
}

// checkPages runs bbolt's consistency check. bbolt runs it, and rebuilds
// the free list of an etcd db (etcd does not persist it), in goroutines of
// its own where a panic cannot be recovered and ends the process. So the
// tree is walked here first, through the same page reads, where a damaged
// page panics recoverably. Damage that passes bbolt's page checks yet
// breaks the tree's invariants (a page referenced twice, a branch key out
// of order) can still end the process inside bbolt.
func checkPages(ctx context.Context, tx *bolt.Tx) (string, error) {
	var keys int
	if reason, err := walkBucket(ctx, tx, "", &keys); err != nil || reason != "" {
		return reason, err
	}

	var quoted []string
	n := 0
	// Drain the channel whatever happens: the check holds the transaction
	// until it has sent everything.
	for err := range tx.Check() {
		n++
		if len(quoted) < maxCheckErrors {
			quoted = append(quoted, err.Error())
		}
	}
	if n == 0 {
		return "", nil
	}
	reason := "bbolt check: " + strings.Join(quoted, "; ")
	if n > len(quoted) {
		reason += fmt.Sprintf(" (and %d more)", n-len(quoted))
	}
	return reason, nil
}

// bucketReader is what *bolt.Tx (the root bucket) and *bolt.Bucket share.
type bucketReader interface {
	Cursor() *bolt.Cursor
	Bucket(name []byte) *bolt.Bucket
}

// walkBucket visits every key of b and of the buckets nested in it,
// checking that keys come in strictly increasing order.
func walkBucket(ctx context.Context, b bucketReader, name string, keys *int) (string, error) {
	var prev []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if *keys++; *keys%keysPerContextCheck == 0 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Sprintf("bucket %q: key %x does not sort after %x", name, k, prev), nil
		}
		prev = k
		if v != nil {
			continue
		}
		child := b.Bucket(k)
		if child == nil {
			return fmt.Sprintf("bucket %q: entry %x has no value and is not a bucket", name, k), nil
		}
		childName := string(k)
		if name != "" {
			childName = name + "/" + childName
		}
		if reason, err := walkBucket(ctx, child, childName, keys); err != nil || reason != "" {
			return reason, err
		}
	}
	return "", nil
}
