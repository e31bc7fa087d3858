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
	tag, err := randomTag()
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{
		Format:      FormatV1,
		Kind:        KindFull,
		Time:        now.UTC().Truncate(time.Millisecond),
		Data:        dataKey(KindFull, now, tag, enc.Encrypts()),
		Compression: "zstd",
	}
	if enc.Encrypts() {
		m.Encryption = "age"
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snap, err := etcd.Snapshot(ctx)
	if err != nil {
		return Manifest{}, fmt.Errorf("start etcd snapshot: %w", err)
	}
	defer snap.Close()

	pr, pw := io.Pipe()
	encoded := make(chan error, 1)
	inspector := snapstream.NewInspector()
	var stored *digestWriter
	go func() {
		e, err := newEncoder(pw, enc)
		if err == nil {
			stored = e.stored
			err = copyFanOut(snap, 256<<10, 16, inspector, e)
			if err != nil {
				err = fmt.Errorf("etcd snapshot: %w", err)
			}
			if cerr := e.Close(); err == nil {
				err = cerr
			}
		}
		// The stream is checked before Put sees EOF, so a bad stream never
		// becomes an object.
		if err == nil {
			var info snapstream.Info
			info, err = inspector.Finish()
			m.Revision, m.CompactRevision = info.Revision, info.CompactRevision
			m.DBSize, m.DBSHA256 = info.DBSize, hex.EncodeToString(info.SHA256[:])
		}
		encoded <- err
		pw.CloseWithError(err)
	}()

	putErr := store.Put(ctx, m.Data, pr)
	pr.CloseWithError(errUploadStopped) // unblocks the encoder if Put gave up early
	cancel()                            // and stops the snapshot stream
	encErr := <-encoded
	switch {
	case encErr != nil && (putErr == nil || errors.Is(putErr, encErr)):
		return Manifest{}, encErr // the stream failed, and the upload with it
	case putErr != nil:
		return Manifest{}, fmt.Errorf("upload %s: %w", m.Data, putErr)
	}
	m.Size, m.SHA256 = stored.n, stored.sum()
	m.Finished = time.Now().UTC()
	// Commit with a fresh context: the data is safely stored, and a manifest
	// is one small write.
	if err := putManifest(context.WithoutCancel(ctx), store, m); err != nil {
		return Manifest{}, fmt.Errorf("commit %s: %w", m.Name(), err)
	}
	return m, nil
}

var errUploadStopped = errors.New("upload stopped")

func randomTag() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
