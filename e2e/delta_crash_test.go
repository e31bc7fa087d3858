package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
	"etcdbrctl/providers/file"
)

// TestCrashDuringDeltaUpload: kill -9 while a delta segment is being
// uploaded, then start again: every committed delta reads back, the chain
// has no gap, and new deltas continue right after the last committed one.
func TestCrashDuringDeltaUpload(t *testing.T) {
	n := newNode(t, "--delta-snapshot-period", "100ms")
	var committed int64
	for attempt := 1; ; attempt++ {
		p := n.start()
		stop := writeLoad(t, n.client(), 400)
		// Some deltas are committed first, so there is a chain to keep.
		waitCommitted(t, n.store, 30)
		caught := killDuringUpload(t, p, n.store, ".delta-")
		stop()
		committed = checkStore(t, n.store)
		if caught {
			t.Logf("killed during a delta upload on attempt %d; committed through revision %d", attempt, committed)
			break
		}
		if attempt == 3 {
			t.Fatal("no kill landed during a delta upload in 3 attempts")
		}
	}
	resumeAndCheck(t, n, committed)
}

// TestCrashDuringFullSnapshot: kill -9 while a full snapshot is being
// uploaded: no half snapshot is visible, and after a start the deltas go on
// from the chain that was being extended.
func TestCrashDuringFullSnapshot(t *testing.T) {
	n := newNode(t, "--delta-snapshot-period", "100ms")
	p := n.start()
	c := n.client()
	ctx := context.Background()
	value := make([]byte, 256<<10)
	var rev int64
	for i := range 120 {
		rand.Read(value)
		resp, err := c.Put(ctx, fmt.Sprintf("load/%06d", i), string(value))
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	waitCommitted(t, n.store, rev)
	fulls := len(catalog(t, n.store).Fulls())
	var committed int64
	for attempt := 1; ; attempt++ {
		go func() {
			resp, err := http.Post(n.apiURL()+"/snapshot/full", "", nil)
			if err == nil {
				resp.Body.Close()
			}
		}()
		caught := killDuringUpload(t, p, n.store, ".full-")
		committed = checkStore(t, n.store)
		if caught {
			t.Logf("killed during a full snapshot upload on attempt %d; committed through revision %d", attempt, committed)
			break
		}
		if attempt == 3 {
			t.Fatal("no kill landed during a full snapshot upload in 3 attempts")
		}
		fulls = len(catalog(t, n.store).Fulls())
		p = n.start()
	}
	if got := len(catalog(t, n.store).Fulls()); got != fulls {
		t.Fatalf("%d full snapshots after the crash, %d before: an interrupted one became visible", got, fulls)
	}
	resumeAndCheck(t, n, committed)
}

// waitCommitted waits until the newest chain holds revision rev.
func waitCommitted(t *testing.T, store string, rev int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if chains := catalog(t, store).Chains(); len(chains) > 0 && chains[len(chains)-1].Last().Revision >= rev {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("revision %d was not backed up within a minute", rev)
}

// writeLoad writes up to n puts of 256 KiB of random bytes (they do not
// compress, so uploads take a while) until stop is called.
func writeLoad(t *testing.T, c *clientv3.Client, n int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		value := make([]byte, 256<<10)
		for i := range n {
			rand.Read(value)
			if _, err := c.Put(ctx, fmt.Sprintf("load/%06d", i), string(value)); err != nil {
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}

// killDuringUpload kills p with SIGKILL as soon as an upload of the kind
// (".delta-" or ".full-") is in flight, and reports whether it still was when
// the process died.
func killDuringUpload(t *testing.T, p *proc, store, kind string) bool {
	t.Helper()
	pattern := filepath.Join(store, backup.Root, "data", kind+"*.part")
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		parts, _ := filepath.Glob(pattern)
		if len(parts) > 0 {
			p.kill9(t)
			left, _ := filepath.Glob(pattern)
			return len(left) > 0
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no %s upload started within a minute:\n%s", kind, p.out.String())
	return false
}

func catalog(t *testing.T, dir string) backup.Catalog {
	t.Helper()
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := backup.ReadCatalog(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// checkStore reads every committed delta back, checks that no chain has a
// gap, and returns the newest committed revision.
func checkStore(t *testing.T, dir string) int64 {
	t.Helper()
	store, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cat := catalog(t, dir)
	chains := cat.Chains()
	if len(chains) == 0 {
		t.Fatal("no backups")
	}
	for _, ch := range chains {
		if !ch.HasFull() || len(ch.Gaps) > 0 {
			t.Fatalf("broken chain: full %q, gaps %+v", ch.Full.Key, ch.Gaps)
		}
		if _, err := backup.ReadManifest(ctx, store, ch.Full.Key); err != nil {
			t.Fatal(err)
		}
		for _, d := range ch.Deltas {
			m, err := backup.ReadManifest(ctx, store, d.Key)
			if err != nil {
				t.Fatal(err)
			}
			s, err := backup.OpenDelta(ctx, store, m, backup.Encryption{})
			if err != nil {
				t.Fatal(err)
			}
			var events int64
			for {
				rec, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", d.Key, err)
				}
				if rec.Event != nil {
					events++
				}
			}
			s.Close()
			if events != m.Events || events == 0 {
				t.Fatalf("%s: read %d events, manifest says %d", d.Key, events, m.Events)
			}
		}
	}
	return chains[len(chains)-1].Last().Revision
}

// resumeAndCheck starts the node again, writes, stops it cleanly, and checks
// that the newest chain goes on from committed with no gap to the end.
func resumeAndCheck(t *testing.T, n *node, committed int64) {
	t.Helper()
	p := n.start()
	c := n.client()
	var rev int64
	for i := range 20 {
		resp, err := c.Put(context.Background(), fmt.Sprintf("after/%d", i), "v")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if last := checkStore(t, n.store); last != rev {
		t.Fatalf("after the restart the chain ends at revision %d, want %d", last, rev)
	}
	chains := catalog(t, n.store).Chains()
	ch := chains[len(chains)-1]
	if ch.Full.Revision > committed {
		t.Fatalf("a new chain started at %d; the old one (through %d) should have gone on", ch.Full.Revision, committed)
	}
	continued := ch.Full.Revision == committed
	for _, d := range ch.Deltas {
		continued = continued || d.Revision == committed
	}
	if !continued {
		t.Fatalf("no backup of the newest chain ends at the last committed revision %d", committed)
	}
}
