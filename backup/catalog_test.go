package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/backup/snapstream"
	"etcdbrctl/providers/file"
)

// TestCatalogOrder: the newest backup is the one taken last, even when a
// restore to an earlier point made its revision lower.
func TestCatalogOrder(t *testing.T) {
	store, _ := newFileStore(t)
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	names := []Name{
		{Kind: KindFull, Revision: 900, Time: at},
		{Kind: KindFull, Revision: 500, Time: at.Add(2 * time.Hour)}, // after a rollback
		{Kind: KindFull, Revision: 950, Time: at.Add(time.Hour)},
	}
	for _, n := range names {
		if err := store.Put(context.Background(), n.String(), strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Put(context.Background(), Root+"/notes.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCatalog(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	latest, ok := c.LatestFull()
	if !ok || latest.Revision != 500 {
		t.Fatalf("latest = %+v, want the one taken last (revision 500)", latest)
	}
	if len(c.Backups) != 3 || c.Backups[0].Revision != 900 || c.Backups[1].Revision != 950 {
		t.Fatalf("order: %+v", c.Backups)
	}
	if len(c.Foreign) != 1 || c.Foreign[0].Key != Root+"/notes.txt" {
		t.Fatalf("foreign objects: %+v", c.Foreign)
	}
}

// TestTakeFullUploadFails: when the store refuses the upload, the error says
// so and nothing is committed.
func TestTakeFullUploadFails(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	for i := range 200 {
		if _, err := c.Put(context.Background(), key(i), strings.Repeat("v", 500)); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(t.TempDir(), "store")
	store, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	// The store's directory turns out to be a file: every write fails.
	if err := os.WriteFile(root, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = TakeFull(context.Background(), c, store, Encryption{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "upload") || strings.Contains(err.Error(), errUploadStopped.Error()) {
		t.Fatalf("TakeFull = %v, want the store's own upload error", err)
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	cat, err := ReadCatalog(context.Background(), store)
	if err != nil || len(cat.Backups) != 0 || len(cat.Data) != 0 {
		t.Fatalf("after a failed upload the store holds %+v (%v)", cat, err)
	}
}

// flippingSnapshotter passes a real etcd snapshot stream on with one byte
// changed, as a damaged transfer would.
type flippingSnapshotter struct {
	Snapshotter
	at int64
}

func (f flippingSnapshotter) Snapshot(ctx context.Context) (io.ReadCloser, error) {
	rc, err := f.Snapshotter.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &flipReader{ReadCloser: rc, at: f.at}, nil
}

type flipReader struct {
	io.ReadCloser
	at, off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x01
	}
	f.off += int64(n)
	return n, err
}

// TestTakeFullRejectsBadStream: a snapshot whose bytes do not match etcd's
// own checksum never becomes a backup.
func TestTakeFullRejectsBadStream(t *testing.T) {
	_, c := startEtcd(t, t.TempDir())
	for i := range 500 {
		if _, err := c.Put(context.Background(), key(i), strings.Repeat("v", 500)); err != nil {
			t.Fatal(err)
		}
	}
	store, _ := newFileStore(t)
	_, err := TakeFull(context.Background(), flippingSnapshotter{Snapshotter: c, at: 100_000}, store, Encryption{}, time.Now())
	if !errors.Is(err, snapstream.ErrChecksum) {
		t.Fatalf("TakeFull of a damaged stream = %v, want ErrChecksum", err)
	}
	cat, err := ReadCatalog(context.Background(), store)
	if err != nil || len(cat.Backups) != 0 || len(cat.Data) != 0 {
		t.Fatalf("a damaged stream left %+v (%v)", cat, err)
	}
}
