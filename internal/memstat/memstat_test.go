package memstat

import "testing"

func TestPeakFollowsAllocation(t *testing.T) {
	if err := ResetPeak(); err != nil {
		t.Fatal(err)
	}
	before, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i)
	}
	after, err := PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 60<<20 {
		t.Fatalf("peak RSS grew %d bytes after touching 64 MiB", after-before)
	}
	if rss, err := RSS(); err != nil || rss <= 0 {
		t.Fatalf("RSS %d, %v", rss, err)
	}
	_ = b[len(b)-1]
}
