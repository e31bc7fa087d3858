package backup

import (
	"testing"
	"time"
)

func TestNameRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 7, 2, 19, 123e6, time.UTC)
	for _, n := range []Name{
		{Kind: KindFull, Revision: 12345, Time: at},
		{Kind: KindFull, Revision: 1, Time: at.Add(time.Hour)},
		{Kind: KindDelta, FromRevision: 12346, Revision: 12400, Time: at},
	} {
		got, err := ParseName(n.String())
		if err != nil {
			t.Fatalf("ParseName(%q): %v", n.String(), err)
		}
		if got != n {
			t.Errorf("ParseName(%q) = %+v, want %+v", n.String(), got, n)
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	for _, key := range []string{
		"",
		"full-0000000000012345-20261126T070219.123Z.json",
		"etcdbr-v1/full-0000000000012345-20261126T070219.123Z",
		"etcdbr-v1/full-12345-20261126T070219.123Z.json",
		"etcdbr-v1/full-000000000001234x-20261126T070219.123Z.json",
		"etcdbr-v1/full-0000000000012345-yesterday.json",
		"etcdbr-v1/delta-0000000000000010-0000000000000009-20261126T070219.123Z.json",
		"etcdbr-v1/other-0000000000012345-20261126T070219.123Z.json",
		"etcdbr-v1/data/full-20261126T070219.123Z-abcd.zst",
		"v2/Full-00000000-00000005-1795675786.gz",
	} {
		if n, err := ParseName(key); err == nil {
			t.Errorf("ParseName(%q) = %+v, want an error", key, n)
		}
	}
}
