package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"etcdbrctl/providers"
)

// planStore writes manifests only: planning reads names and manifests,
// never data objects.
type planStore struct {
	t     *testing.T
	store providers.Store
	at    time.Time
}

func newPlanStore(t *testing.T) *planStore {
	s, _ := newFileStore(t)
	return &planStore{t: t, store: s, at: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)}
}

// full commits a full snapshot at revision rev, started at +start and
// finished a second later.
func (p *planStore) full(rev int64, start time.Duration) Manifest {
	return p.put(Manifest{Kind: KindFull, Revision: rev}, start, start+time.Second)
}

// delta commits a segment of revisions from..to, first change seen at
// +start, finished at +finish.
func (p *planStore) delta(from, to int64, start, finish time.Duration) Manifest {
	return p.put(Manifest{Kind: KindDelta, FromRevision: from, Revision: to}, start, finish)
}

func (p *planStore) put(m Manifest, start, finish time.Duration) Manifest {
	p.t.Helper()
	m.Format = FormatV1
	m.Time = p.at.Add(start)
	m.Finished = p.at.Add(finish)
	m.Data = fmt.Sprintf("%s/data/%s-%d-%d.zst", Root, m.Kind, m.FromRevision, m.Revision)
	m.Compression = "zstd"
	if err := putManifest(context.Background(), p.store, m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

func (p *planStore) plan(target Target) (Plan, error) {
	return PlanRestore(context.Background(), p.store, target)
}

func planRanges(pl Plan) string {
	s := fmt.Sprintf("full %d", pl.Full.Revision)
	for _, d := range pl.Deltas {
		s += fmt.Sprintf(", %d-%d", d.FromRevision, d.Revision)
	}
	return s + fmt.Sprintf(" -> %d", pl.Revision)
}

func TestPlanLatestFollowsTheChain(t *testing.T) {
	p := newPlanStore(t)
	p.full(100, 0)
	p.delta(95, 130, -5*time.Second, 10*time.Second) // straddles the snapshot
	p.delta(131, 150, 10*time.Second, 20*time.Second)
	p.delta(151, 200, 20*time.Second, 30*time.Second)
	pl, err := p.plan(Target{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planRanges(pl), "full 100, 95-130, 131-150, 151-200 -> 200"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	if pl.StoredBytes() != 0 || pl.Full.Kind != KindFull || len(pl.Deltas) != 3 {
		t.Fatalf("plan %+v", pl)
	}
}

// TestPlanIgnoresAnAbandonedHistory: after a restore to an earlier point,
// segments of the old history hold the same revisions as the new one's;
// they were finished before the new full snapshot started.
func TestPlanIgnoresAnAbandonedHistory(t *testing.T) {
	p := newPlanStore(t)
	p.full(100, 0)
	p.delta(101, 300, 10*time.Second, 20*time.Second) // old history, up to 300
	p.full(150, time.Hour)                            // restored to 150, then a new full
	p.delta(151, 180, time.Hour+10*time.Second, time.Hour+20*time.Second)
	pl, err := p.plan(Target{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planRanges(pl), "full 150, 151-180 -> 180"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	// The old history is still restorable where the new one does not reach.
	pl, err = p.plan(Target{Revision: 250})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planRanges(pl), "full 100, 101-300 -> 250"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
}

func TestPlanStopsAtAGap(t *testing.T) {
	p := newPlanStore(t)
	full := p.full(100, 0)
	p.delta(101, 150, 10*time.Second, 20*time.Second)
	gapped := p.delta(161, 200, 40*time.Second, 50*time.Second)
	_, err := p.plan(Target{})
	if !errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "--to-revision 150") || !strings.Contains(err.Error(), gapped.Name().String()) {
		t.Fatalf("latest across a gap: %v", err)
	}
	pl, err := p.plan(Target{Revision: 120})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := planRanges(pl), "full 100, 101-150 -> 120"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	_, err = p.plan(Target{Revision: 170})
	if !errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "revisions 100-150") || !strings.Contains(err.Error(), full.Name().String()) {
		t.Fatalf("revision inside the gap: %v", err)
	}
	_, err = p.plan(Target{Revision: 50})
	if !errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "revision 50") {
		t.Fatalf("revision before every full snapshot: %v", err)
	}
	_, err = p.plan(Target{Time: p.at.Add(time.Hour)})
	if !errors.Is(err, ErrNotCovered) || !strings.Contains(err.Error(), "--to-revision 150") {
		t.Fatalf("time past the gap: %v", err)
	}
	pl, err = p.plan(Target{Time: p.at.Add(30 * time.Second)})
	if err != nil || pl.Revision != 150 {
		t.Fatalf("time before the gap's segment: %v, %v", planRanges(pl), err)
	}
}

// TestPlanToTime: the chosen revision is the newest one the manifests
// prove was reached at or before the time.
func TestPlanToTime(t *testing.T) {
	p := newPlanStore(t)
	p.full(100, 0)                                    // finished at +1s
	p.delta(101, 150, 10*time.Second, 21*time.Second) // 101 by +10s, 150 by +21s
	p.delta(151, 200, 20*time.Second, 31*time.Second) // 151 by +20s, 200 by +31s
	p.full(180, 25*time.Second)                       // finished at +26s
	cases := []struct {
		at   time.Duration
		want string
	}{
		{time.Second, "full 100 -> 100"},
		{9 * time.Second, "full 100 -> 100"},
		{10 * time.Second, "full 100, 101-150 -> 101"},
		{20 * time.Second, "full 100, 101-150, 151-200 -> 151"},
		{21 * time.Second, "full 100, 101-150, 151-200 -> 151"},
		{26 * time.Second, "full 180, 151-200 -> 180"},
		{31 * time.Second, "full 180, 151-200 -> 200"},
	}
	for _, tc := range cases {
		pl, err := p.plan(Target{Time: p.at.Add(tc.at)})
		if err != nil {
			t.Fatalf("at +%s: %v", tc.at, err)
		}
		if got := planRanges(pl); got != tc.want {
			t.Errorf("at +%s: plan %s, want %s", tc.at, got, tc.want)
		}
	}
	if _, err := p.plan(Target{Time: p.at}); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("before the first full snapshot finished: %v", err)
	}
}

func TestPlanNeedsAFullSnapshot(t *testing.T) {
	p := newPlanStore(t)
	p.delta(1, 10, 0, time.Second)
	if _, err := p.plan(Target{}); !errors.Is(err, ErrNoFull) {
		t.Fatalf("plan without a full snapshot: %v", err)
	}
	if _, err := p.plan(Target{Revision: 5, Time: p.at}); err == nil {
		t.Fatal("a revision and a time were both accepted")
	}
}
