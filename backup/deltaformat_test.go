package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/lease/leasepb"
)

func deltaPayload(t *testing.T) ([]byte, []DeltaRecord) {
	t.Helper()
	want := []DeltaRecord{
		{Lease: &leasepb.Lease{ID: 7, TTL: 60, RemainingTTL: 42}},
		{Event: &mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte("a"), Value: bytes.Repeat([]byte("v"), 300), CreateRevision: 5, ModRevision: 5, Version: 1, Lease: 7}}},
		{Event: &mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte("b"), CreateRevision: 5, ModRevision: 5, Version: 1}}},
		{Event: &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 6}}},
	}
	var buf bytes.Buffer
	w, err := NewDeltaWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range want {
		if r.Lease != nil {
			err = w.Lease(r.Lease)
		} else {
			err = w.Event(r.Event)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

func readAllDelta(b []byte) ([]DeltaRecord, error) {
	r, err := NewDeltaReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out []DeltaRecord
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestDeltaFormatRoundTrip(t *testing.T) {
	b, want := deltaPayload(t)
	got, err := readAllDelta(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, wrote %d", len(got), len(want))
	}
	for i := range want {
		if want[i].Lease.String() != got[i].Lease.String() || want[i].Event.String() != got[i].Event.String() {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestDeltaFormatDamage(t *testing.T) {
	b, _ := deltaPayload(t)
	cases := map[string][]byte{
		"empty":          nil,
		"magic only":     []byte(deltaMagic),
		"cut mid-frame":  b[:len(deltaMagic)+20],
		"no end frame":   b[:len(b)-3],
		"trailing bytes": append(append([]byte{}, b...), 'x'),
		"unknown frame":  append([]byte(deltaMagic), 'Q', 0),
		"wrong magic":    append([]byte("etcdbr-delta-v9\n"), b[len(deltaMagic):]...),
		"huge frame":     append([]byte(deltaMagic), 'E', 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := readAllDelta(in); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
	// A flipped count in the end frame is caught too.
	bad := append([]byte{}, b...)
	bad[len(bad)-1] ^= 1
	if _, err := readAllDelta(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("end frame count: got %v, want ErrCorrupt", err)
	}
}
