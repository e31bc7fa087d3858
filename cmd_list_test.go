package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"etcdbrctl/backup"
)

func listEntry(kind backup.Kind, from, to int64, at time.Time) backup.Entry {
	n := backup.Name{Kind: kind, FromRevision: from, Revision: to, Time: at}
	return backup.Entry{Name: n, Key: n.String(), Manifest: &backup.Manifest{Kind: kind, Size: 100, Compression: "zstd", Data: "d"}}
}

func TestListChains(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	min := func(m int) time.Time { return at.Add(time.Duration(m) * time.Minute) }
	cat := backup.Catalog{Backups: []backup.Entry{
		listEntry(backup.KindDelta, 5, 9, min(0)),
		listEntry(backup.KindFull, 0, 100, min(1)),
		listEntry(backup.KindDelta, 101, 150, min(2)),
		listEntry(backup.KindDelta, 160, 170, min(3)),
		listEntry(backup.KindFull, 0, 200, min(4)),
		listEntry(backup.KindDelta, 201, 230, min(5)),
	}}
	cat.Backups[3].Manifest = nil
	got := listChains(cat.Chains())
	if len(got) != 6 {
		t.Fatalf("%d elements, want 6", len(got))
	}
	for i, want := range []int{0, 1, 1, 1, 2, 2} {
		if got[i].Chain != want {
			t.Errorf("element %d in chain %d, want %d", i, got[i].Chain, want)
		}
	}
	if r := got[1].Restores; r == nil || r.FromRevision != 100 || r.ToRevision != 150 || !r.ToTime.Equal(min(2)) {
		t.Errorf("chain 1 restores %+v, want 100 to 150", r)
	}
	if g := got[3].Gap; g == nil || g.MissingFrom != 151 || g.MissingTo != 159 {
		t.Errorf("gap %+v, want 151-159 missing", g)
	}
	if got[3].Error == "" || got[2].Gap != nil || got[0].Restores != nil {
		t.Errorf("elements %+v", got)
	}
	if r := got[4].Restores; r == nil || r.FromRevision != 200 || r.ToRevision != 230 {
		t.Errorf("chain 2 restores %+v, want 200 to 230", r)
	}

	var out bytes.Buffer
	if err := printChains(&out, cat.Chains()); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"-      delta  5-9",
		"1      GAP    151-159    missing",
		"1      delta  160-170    2026-03-01 10:03:00  ?      manifest unreadable",
		"2      full   0-200",
		"chain 1 restores revisions 100 (2026-03-01 10:01:00) to 150 (2026-03-01 10:02:00); the deltas after the gap at revision 150 cannot be applied",
		"chain 2 restores revisions 200 (2026-03-01 10:04:00) to 230 (2026-03-01 10:05:00)",
		"restore nothing",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if err := printChains(&out, nil); err != nil || out.String() != "(no backups)\n" {
		t.Errorf("empty store: %q, %v", out.String(), err)
	}
}
