package datadir

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/internal/etcdtest"
)

// walFrames returns the offset and framed size of each record in a WAL
// segment: a little-endian length whose top byte may carry padding, then
// the record; a zero length ends the written part.
func walFrames(t *testing.T, path string) (data []byte, offs []int64, sizes []int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off+8 <= int64(len(data)); {
		l := binary.LittleEndian.Uint64(data[off:])
		if l == 0 {
			break
		}
		size := int64(l & 0x00FFFFFFFFFFFFFF)
		if l&(1<<63) != 0 {
			size += int64((l >> 56) & 0x7)
		}
		offs, sizes = append(offs, off), append(sizes, size)
		off += 8 + size
	}
	return data, offs, sizes
}

func lastWAL(t *testing.T, dir string) string {
	t.Helper()
	wals, _ := filepath.Glob(filepath.Join(dir, walPath, "*.wal"))
	if len(wals) == 0 {
		t.Fatal("no WAL segment")
	}
	sort.Strings(wals)
	return wals[len(wals)-1]
}

// TestWALDamage tells the torn last record a crash leaves, which etcd cuts
// off and starts, from damage inside the log, which it refuses.
func TestWALDamage(t *testing.T) {
	ctx := t.Context()
	golden := filepath.Join(t.TempDir(), "golden")
	cli, stop := startEtcd(t, golden)
	rev := putKeys(ctx, t, cli, "key-", 500)
	stop()

	t.Run("torn last record", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		copyTree(t, golden, dir)
		path := lastWAL(t, dir)
		_, offs, sizes := walFrames(t, path)
		end := offs[len(offs)-1] + 8 + sizes[len(sizes)-1]
		// A frame that promises 1000 bytes of which only the first sector
		// reached the disk: the rest reads as zeros.
		frame := make([]byte, 8+512)
		binary.LittleEndian.PutUint64(frame, 1000)
		for i := 8; i < len(frame); i++ {
			frame[i] = 0xA5
		}
		overwrite(t, path, end, frame)

		before := treeListing(t, dir)
		report := validateForTest(ctx, t, dir, Full)
		if report.State != Valid || report.Revision != rev {
			t.Fatalf("torn tail: %+v, want valid at %d", report, rev)
		}
		// Nothing was repaired on disk: the check only reads.
		if after := treeListing(t, dir); !reflect.DeepEqual(before, after) {
			t.Fatal("the check changed the WAL")
		}
		// And etcd agrees: it starts and serves every key.
		e, c := etcdtest.Start(t, dir)
		resp, err := c.Get(ctx, "key-", clientv3.WithPrefix())
		if err != nil || len(resp.Kvs) != 500 {
			t.Fatalf("etcd on the torn dir: %v, %d keys", err, len(resp.Kvs))
		}
		etcdtest.Stop(e)
	})

	t.Run("record damaged inside the log", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		copyTree(t, golden, dir)
		path := lastWAL(t, dir)
		data, offs, sizes := walFrames(t, path)
		i := len(offs) / 2
		at := offs[i] + 8 + sizes[i]/2
		overwrite(t, path, at, []byte{data[at] ^ 0x10})
		report := validateForTest(ctx, t, dir, Full)
		if report.State != Invalid || report.Code != CodeWAL {
			t.Fatalf("damaged record: %+v, want invalid %s", report, CodeWAL)
		}
		t.Logf("reason: %s", report.Reason)
	})

	t.Run("owner marker round trip", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		copyTree(t, golden, dir)
		o, err := RecordOwner(dir, "default")
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := ReadOwner(dir)
		if err != nil || !ok || got != o || o.ClusterID == "" || o.MemberID == "" {
			t.Fatalf("ReadOwner = %+v %v %v, wrote %+v", got, ok, err, o)
		}
		writeFile(t, filepath.Join(dir, ownerFile), "not json")
		if _, err := Check(ctx, dir, Options{Mode: Sanity}); err == nil {
			t.Fatal("an unreadable owner marker passed")
		}
	})
}
