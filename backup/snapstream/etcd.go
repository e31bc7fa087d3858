package snapstream

import (
	"bytes"

	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// revisionKeyLen is the length of an mvcc revision key: 8-byte big-endian main revision,
// '_', 8-byte big-endian sub revision. A marked key (tombstone) has one byte more. mvcc keeps
// these lengths unexported; mvcc.BytesToRev panics on anything else, so keys are checked
// here first.
const (
	revisionKeyLen       = 8 + 1 + 8
	markedRevisionKeyLen = revisionKeyLen + 1
	revisionSeparatorAt  = 8
	revisionSeparator    = '_'
)

// mainRevision returns the main revision of an mvcc revision key, or ok false when etcd
// would refuse the key (mvcc.BytesToRev panics on it).
func mainRevision(key []byte) (main int64, ok bool) {
	if len(key) != revisionKeyLen && len(key) != markedRevisionKeyLen {
		return 0, false
	}
	if key[revisionSeparatorAt] != revisionSeparator {
		return 0, false
	}
	// A set top bit is a negative main or sub revision.
	if key[0]&0x80 != 0 || key[revisionSeparatorAt+1]&0x80 != 0 {
		return 0, false
	}
	return mvcc.BytesToRev(key).Main, true
}

// compaction holds the compaction revisions etcd keeps in its meta bucket (see
// mvcc.UnsafeReadFinishedCompact and mvcc.UnsafeReadScheduledCompact).
type compaction struct {
	finished, scheduled       int64
	hasFinished, hasScheduled bool
	// malformed is set when one of the values is not a revision; etcd would refuse to start.
	malformed bool
}

// note records key/value if it is one of the compaction entries.
func (c *compaction) note(key, value []byte) {
	var target *int64
	var found *bool
	switch {
	case bytes.Equal(key, schema.FinishedCompactKeyName):
		target, found = &c.finished, &c.hasFinished
	case bytes.Equal(key, schema.ScheduledCompactKeyName):
		target, found = &c.scheduled, &c.hasScheduled
	default:
		return
	}
	rev, ok := mainRevision(value)
	if !ok {
		c.malformed = true
		return
	}
	*target, *found = rev, true
}

func (c compaction) any() bool { return c.hasFinished || c.hasScheduled || c.malformed }

// isKeyBucket and isMetaBucket match the names of the two etcd buckets read here.
func isKeyBucket(name []byte) bool  { return bytes.Equal(name, schema.Key.Name()) }
func isMetaBucket(name []byte) bool { return bytes.Equal(name, schema.Meta.Name()) }
