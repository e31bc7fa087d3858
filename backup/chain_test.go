package backup

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// synth builds catalog entries from a compact spec: "F100" is a full
// snapshot at revision 100, "D101-150" a delta; each entry is one minute
// after the one before, from at.
func synth(at time.Time, spec ...string) []Entry {
	var out []Entry
	for i, s := range spec {
		n := Name{Time: at.Add(time.Duration(i) * time.Minute)}
		switch s[0] {
		case 'F':
			n.Kind = KindFull
			fmt.Sscanf(s[1:], "%d", &n.Revision)
		case 'D':
			n.Kind = KindDelta
			fmt.Sscanf(s[1:], "%d-%d", &n.FromRevision, &n.Revision)
		}
		out = append(out, Entry{Name: n, Key: n.String()})
	}
	return out
}

// describe prints chains compactly: "F100[D101-150 D151-200 | gaps 200>210]".
func describe(chains []Chain) string {
	var parts []string
	for _, c := range chains {
		s := "-"
		if c.HasFull() {
			s = fmt.Sprintf("F%d", c.Full.Revision)
		}
		var ds []string
		for _, d := range c.Deltas {
			ds = append(ds, fmt.Sprintf("D%d-%d", d.FromRevision, d.Revision))
		}
		s += "[" + strings.Join(ds, " ")
		for _, g := range c.Gaps {
			s += fmt.Sprintf(" |%d>%d", g.After.Revision, g.Next.FromRevision)
		}
		s += "]"
		if from, to, ok := c.Restorable(); ok {
			s += fmt.Sprintf("%d..%d", from.Revision, to.Revision)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestChains(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		spec []string
		want string
	}{
		{"empty", nil, ""},
		{"full only", []string{"F100"}, "F100[]100..100"},
		{"contiguous", []string{"F100", "D101-150", "D151-200"}, "F100[D101-150 D151-200]100..200"},
		{"two chains", []string{"F100", "D101-150", "F160", "D161-170"}, "F100[D101-150]100..150 F160[D161-170]160..170"},
		{"gap", []string{"F100", "D101-150", "D160-170", "D171-180"}, "F100[D101-150 D160-170 D171-180 |150>160]100..150"},
		{"gap right after full", []string{"F100", "D105-110"}, "F100[D105-110 |100>105]100..100"},
		{"overlap", []string{"F100", "D101-150", "D140-170"}, "F100[D101-150 D140-170 |150>140]100..150"},
		{"deltas before any full", []string{"D10-20", "D21-30", "F40"}, "-[D10-20 D21-30] F40[]40..40"},
		{"restored to an earlier point", []string{"F900", "D901-950", "F500", "D501-510"}, "F900[D901-950]900..950 F500[D501-510]500..510"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Catalog{Backups: synth(at, tc.spec...)}
			if got := describe(c.Chains()); got != tc.want {
				t.Errorf("chains = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGapMissing(t *testing.T) {
	g := Gap{After: Entry{Name: Name{Revision: 150}}, Next: Entry{Name: Name{FromRevision: 160}}}
	if from, to := g.Missing(); from != 151 || to != 159 {
		t.Fatalf("missing %d-%d, want 151-159", from, to)
	}
}
