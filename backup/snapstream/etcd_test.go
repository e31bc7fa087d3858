package snapstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"

	"etcdbrctl/internal/etcdtest"
)

// startEtcd runs an embedded single-member etcd on 127.0.0.1 and returns a client for it.
func startEtcd(tb testing.TB) *clientv3.Client {
	tb.Helper()
	_, cli := etcdtest.Start(tb, tb.TempDir())
	return cli
}

func freeAddr(tb testing.TB) string { return etcdtest.FreeAddr(tb) }

// currentRevision is the server's revision as a read reports it.
func currentRevision(ctx context.Context, tb testing.TB, cli *clientv3.Client) int64 {
	tb.Helper()
	resp, err := cli.Get(ctx, "revision-probe")
	if err != nil {
		tb.Fatalf("get: %v", err)
	}
	return resp.Header.Revision
}

// streamSnapshot streams the server's snapshot through an Inspector, the way a backup does,
// and also returns the raw stream.
func streamSnapshot(ctx context.Context, tb testing.TB, cli *clientv3.Client) (Info, []byte) {
	tb.Helper()
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	defer rc.Close()
	in := NewInspector()
	var raw bytes.Buffer
	if _, err := io.Copy(&raw, io.TeeReader(rc, in)); err != nil {
		tb.Fatalf("read snapshot: %v", err)
	}
	info, err := in.Finish()
	if err != nil {
		tb.Fatalf("Finish: %v", err)
	}
	return info, raw.Bytes()
}

// inspect feeds stream to a new Inspector in chunks of the given size.
func inspect(stream []byte, chunk int, maxSpan uint64) (Info, error) {
	in := newInspector(maxSpan)
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		if _, err := in.Write(stream[:n]); err != nil {
			return Info{}, err
		}
		stream = stream[n:]
	}
	return in.Finish()
}

// fileFacts are the facts of a bbolt file read by other means than the Inspector.
type fileFacts struct {
	boltRevision    int64 // max(1, last key, compactions), read with bbolt
	etcdRevision    int64 // what etcd's mvcc store restores from the file
	finishedCompact int64
}

// dbFile writes the bbolt file part of a snapshot stream to a new file, checking the trailer.
func dbFile(tb testing.TB, stream []byte) string {
	tb.Helper()
	if len(stream) < sha256.Size {
		tb.Fatalf("stream of %d bytes", len(stream))
	}
	db, trailer := stream[:len(stream)-sha256.Size], stream[len(stream)-sha256.Size:]
	if sum := sha256.Sum256(db); !bytes.Equal(sum[:], trailer) {
		tb.Fatal("stream trailer is not the sha256 of the file")
	}
	path := filepath.Join(tb.TempDir(), "db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// readFileFacts derives the revision of the bbolt file in stream with bbolt directly, and
// with etcd's own mvcc restore.
func readFileFacts(tb testing.TB, stream []byte) fileFacts {
	tb.Helper()
	var f fileFacts
	withBolt(tb, stream, func(tx *bolt.Tx) {
		var last int64
		if k, _ := tx.Bucket(schema.Key.Name()).Cursor().Last(); k != nil {
			last = mvcc.BytesToRev(k).Main
		}
		f.boltRevision = max(1, last)
		meta := tx.Bucket(schema.Meta.Name())
		if v := meta.Get(schema.FinishedCompactKeyName); v != nil {
			f.finishedCompact = mvcc.BytesToRev(v).Main
			f.boltRevision = max(f.boltRevision, f.finishedCompact)
		}
		if v := meta.Get(schema.ScheduledCompactKeyName); v != nil {
			f.boltRevision = max(f.boltRevision, mvcc.BytesToRev(v).Main)
		}
	})

	be := backend.NewDefaultBackend(nil, dbFile(tb, stream), backend.WithMmapSize(1<<26))
	kv := mvcc.NewStore(nil, be, nil, mvcc.StoreConfig{})
	f.etcdRevision = kv.Rev()
	kv.Close()
	if err := be.Close(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// withBolt opens the bbolt file of stream and runs fn in a read transaction.
func withBolt(tb testing.TB, stream []byte, fn func(*bolt.Tx)) {
	tb.Helper()
	// Not read-only, so that bbolt loads the freelist; the file is a copy.
	db, err := bolt.Open(dbFile(tb, stream), 0o600, nil)
	if err != nil {
		tb.Fatalf("open bbolt: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error { fn(tx); return nil }); err != nil {
		tb.Fatal(err)
	}
}

// checkStream checks what an Inspector reports for stream against the file's own facts.
func checkStream(tb testing.TB, info Info, stream []byte) fileFacts {
	tb.Helper()
	f := readFileFacts(tb, stream)
	if info.Revision != f.boltRevision || info.Revision != f.etcdRevision {
		tb.Errorf("Revision %d; read with bbolt %d, restored by mvcc %d", info.Revision, f.boltRevision, f.etcdRevision)
	}
	if info.CompactRevision != f.finishedCompact {
		tb.Errorf("CompactRevision %d, meta bucket says %d", info.CompactRevision, f.finishedCompact)
	}
	if info.DBSize+sha256.Size != int64(len(stream)) {
		tb.Errorf("DBSize %d + %d, stream has %d bytes", info.DBSize, sha256.Size, len(stream))
	}
	if !bytes.Equal(info.SHA256[:], stream[len(stream)-sha256.Size:]) {
		tb.Errorf("SHA256 %x is not the trailer", info.SHA256)
	}
	return f
}

// isFormat reports whether err is a format error and not a checksum error.
func isFormat(err error) bool { return errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) }
