package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"etcdbrctl/backup/snapstream"
	"etcdbrctl/providers"
)

// Snapshotter streams a consistent copy of etcd's database, as clientv3's
// Maintenance.Snapshot does.
type Snapshotter interface {
	Snapshot(ctx context.Context) (io.ReadCloser, error)
}

// TakeFull streams a snapshot from etcd through compression (and encryption)
// into the store, then commits it with a manifest. Nothing is held in memory
// or on disk beyond the codec's buffers. The revision recorded is read from
// the snapshot's own pages as they pass.
func TakeFull(ctx context.Context, etcd Snapshotter, store providers.Store, enc Encryption, now time.Time) (Manifest, error) {
	m, err := newManifest(KindFull, now, enc)
	if err != nil {
		return Manifest{}, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // also stops the snapshot stream when the upload gives up
	snap, err := etcd.Snapshot(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("start etcd snapshot: %w", err)
	}
	defer snap.Close()

	inspector := snapstream.NewInspector()
	stored, err := streamObject(ctx, store, m.Data, enc, func(e io.Writer) error {
		if err := copyFanOut(snap, 256<<10, 16, inspector, e); err != nil {
			return fmt.Errorf("etcd snapshot: %w", err)
		}
		return nil
	}, func() error {
		info, err := inspector.Finish()
		m.Revision, m.CompactRevision = info.Revision, info.CompactRevision
		m.DBSize, m.DBSHA256 = info.DBSize, hex.EncodeToString(info.SHA256[:])
		return err
	})
	if err != nil {
		return Manifest{}, err
	}
	m.Size, m.SHA256 = stored.n, stored.sha
	m.Finished = time.Now().UTC()
	// Commit with a fresh context: the data is safely stored, and a manifest
	// is one small write.
	if err := putManifest(context.WithoutCancel(ctx), store, m); err != nil {
		return Manifest{}, fmt.Errorf("commit %s: %w", m.Name(), err)
	}
	return m, nil
}

var errUploadStopped = errors.New("upload stopped")

// digest is what the store holds of an object: its size and SHA-256.
type digest struct {
	n   int64
	sha string
}

// streamObject uploads to key what produce writes, through the encoder
// (zstd, then age when enc has recipients). check runs once the encoded
// stream is complete but before the store sees its end, so a stream that
// fails it never becomes an object.
func streamObject(ctx context.Context, store providers.Store, key string, enc Encryption, produce func(io.Writer) error, check func() error) (digest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	encoded := make(chan error, 1)
	var stored *digestWriter
	go func() {
		err := func() error {
			e, err := newEncoder(pw, enc)
			if err != nil {
				return err
			}
			stored = e.stored
			if err := produce(e); err != nil {
				e.Close()
				return err
			}
			if err := e.Close(); err != nil {
				return err
			}
			return check()
		}()
		encoded <- err
		pw.CloseWithError(err)
	}()
	putErr := store.Put(ctx, key, pr)
	pr.CloseWithError(errUploadStopped) // unblocks the encoder if Put gave up early
	cancel()
	encErr := <-encoded
	switch {
	case encErr != nil && (putErr == nil || errors.Is(putErr, encErr)):
		return digest{}, encErr // the stream failed, and the upload with it
	case putErr != nil:
		return digest{}, fmt.Errorf("upload %s: %w", key, putErr)
	}
	return digest{stored.n, stored.sum()}, nil
}

// newManifest starts the manifest of a backup of kind begun at now: its
// time, a fresh data key, and how the data is encoded.
func newManifest(kind Kind, now time.Time, enc Encryption) (Manifest, error) {
	tag, err := randomTag()
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{
		Format:      FormatV1,
		Kind:        kind,
		Time:        now.UTC().Truncate(time.Millisecond),
		Data:        dataKey(kind, now, tag, enc.Encrypts()),
		Compression: "zstd",
	}
	if enc.Encrypts() {
		m.Encryption = "age"
	}
	return m, nil
}

func randomTag() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
