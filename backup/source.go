package backup

import (
	"context"
	"io"
)

// Source reads the objects a restore plan names. A plan of this format
// reads them with its own codec (Source nil); a plan over backups another
// tool wrote (see backup/gardener) brings a Source of its own, and its
// manifests then only carry the kinds, revisions, times and object keys.
type Source interface {
	// OpenFull returns a full snapshot's etcd database as etcd's snapshot
	// stream gives it, its 32-byte SHA-256 trailer at the end.
	OpenFull(ctx context.Context, m Manifest) (io.ReadCloser, error)
	// OpenDelta returns the records of a delta segment. Next returns
	// io.EOF only once the whole object has been read and checked.
	OpenDelta(ctx context.Context, m Manifest) (RecordReader, error)
}

// RecordReader reads the records of a delta segment in order.
type RecordReader interface {
	Next() (DeltaRecord, error)
	Close() error
}
