package backup

import (
	"context"
	"io"
	"testing"
	"time"

	"filippo.io/age"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"etcdbrctl/providers/file"
)

func TestWriteDeltaRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []Encryption{{}, {Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}}} {
		m, err := WriteDelta(ctx, store, enc, 10, 12, time.Now(), func(w *DeltaWriter) error {
			for rev := int64(10); rev <= 12; rev++ {
				ev := &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("k"), Value: []byte("v"), ModRevision: rev, CreateRevision: 10, Version: rev - 9}}
				if err := w.Event(ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if m.Events != 3 || m.FromRevision != 10 || m.Revision != 12 {
			t.Fatalf("manifest %+v", m)
		}
		got, err := ReadManifest(ctx, store, m.Name().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenDelta(ctx, store, got, enc)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for {
			rec, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
			if rec.Event.Kv.ModRevision != 9+n {
				t.Fatalf("event %d at revision %d", n, rec.Event.Kv.ModRevision)
			}
		}
		s.Close()
		if n != 3 {
			t.Fatalf("read %d events", n)
		}
	}
}

func TestWriteDeltaRefusesEventsOutsideRange(t *testing.T) {
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = WriteDelta(context.Background(), store, Encryption{}, 10, 11, time.Now(), func(w *DeltaWriter) error {
		return w.Event(&mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte("k"), ModRevision: 12}})
	})
	if err == nil {
		t.Fatal("an event outside the range was accepted")
	}
	objs, _ := store.List(context.Background(), "")
	if len(objs) != 0 {
		t.Fatalf("a failed delta left %v", objs)
	}
	if _, err := WriteDelta(context.Background(), store, Encryption{}, 5, 4, time.Now(), nil); err == nil {
		t.Fatal("a backwards range was accepted")
	}
}
