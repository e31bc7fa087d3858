package backup

import (
	"testing"
	"time"
)

// FuzzParseName: names come from a listing of a store anyone may write to.
// Whatever a name says, parsing must not panic, and a name that parses must
// print back to itself.
func FuzzParseName(f *testing.F) {
	at := time.Date(2026, 11, 26, 7, 2, 19, 123e6, time.UTC)
	f.Add(Name{Kind: KindFull, Revision: 12345, Time: at}.String())
	f.Add(Name{Kind: KindDelta, FromRevision: 7, Revision: 9, Time: at}.String())
	f.Add("etcdbr-v1/full-9223372036854775807-20261126T070219.123Z.json")
	f.Add("etcdbr-v1/full--000000000000001-20261126T070219.123Z.json")
	f.Add("etcdbr-v1/data/full-20261126T070219.123Z-abcd.zst")
	f.Fuzz(func(t *testing.T, key string) {
		n, err := ParseName(key)
		if err != nil {
			return
		}
		if n.Revision < 0 || n.FromRevision < 0 || n.FromRevision > n.Revision && n.Kind == KindDelta {
			t.Fatalf("ParseName(%q) = %+v", key, n)
		}
		if back := n.String(); back != key {
			t.Fatalf("ParseName(%q) prints back as %q", key, back)
		}
	})
}
