package supervisor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers/file"
)

// TestKillNineNoFalsePositives kills a real etcd process with SIGKILL under
// write load, round after round, and checks the data dir each time: the full
// check never reports damage, Initialize never restores, and every write
// etcd acknowledged is there when it starts again. The db is committed
// lazily (a long backend batch interval), so after a kill the newest
// acknowledged writes are often only in the WAL: the check must count them
// and not call the dir older than a backup at the last acknowledged
// revision.
func TestKillNineNoFalsePositives(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 3
	}
	bin := testserver.Tool(t, "etcd")
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "etcd")
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", testserver.FreePort(t))
	expect := datadir.Expectation{Name: "default", InitialCluster: "default=" + peerURL, InitialClusterToken: "kill-nine"}
	store, err := file.New(filepath.Join(root, "store"))
	if err != nil {
		t.Fatal(err)
	}
	r := Restorer{Store: store, Expect: expect, Log: testLogger(),
		Member: backup.Member{Name: "default", PeerURLs: []string{peerURL},
			InitialCluster: expect.InitialCluster, InitialClusterToken: expect.InitialClusterToken}}

	start := func(round int) (*testserver.Proc, *clientv3.Client) {
		cmd := exec.Command(bin, "--name", "default", "--data-dir", dir,
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", expect.InitialCluster, "--initial-cluster-token", expect.InitialClusterToken,
			"--snapshot-count", "150", "--backend-batch-interval", "10s", "--log-level", "warn")
		p := testserver.Start(t, fmt.Sprintf("etcd-round-%02d", round), cmd)
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		p.WaitReady(t, 30*time.Second, func() error {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := c.Get(cctx, "probe")
			return err
		})
		return p, c
	}

	acked := map[string]string{}
	var lastAcked int64
	rng := rand.New(rand.NewPCG(7, 9))
	for round := range rounds {
		p, c := start(round)
		checkAcked(ctx, t, c, acked, round)
		if round == 0 {
			putMany(t, c, "base/", 20, 10)
			if _, err := backup.TakeFull(ctx, c, store, backup.Encryption{}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}

		rev := writeUntilKilled(ctx, c, p, round, time.Duration(30+rng.IntN(250))*time.Millisecond, acked)
		lastAcked = max(lastAcked, rev)
		c.Close()

		report, err := datadir.Check(ctx, dir, datadir.Options{Mode: datadir.Full, NewestBackupRevision: lastAcked, Expect: expect})
		if err != nil {
			t.Fatal(err)
		}
		if report.State != datadir.Valid {
			t.Fatalf("round %d: after kill -9 the full check says %s (%s): %s", round, report.State, report.Code, report.Reason)
		}
		t.Logf("round %d: %d acknowledged writes; db at %d (+%d pending in the WAL), WAL to %d, applied %d, snapshot %d",
			round, len(acked), report.Revision, report.PendingRevisions, report.WALLastIndex, report.ConsistentIndex, report.SnapshotIndex)
		res, err := r.Initialize(ctx, dir, datadir.Full, false)
		if err != nil || res.Action != ActionKept {
			t.Fatalf("round %d: Initialize = %s, %v; want the dir kept", round, res.Action, err)
		}
		if q, _ := filepath.Glob(dir + ".quarantine-*"); len(q) != 0 {
			t.Fatalf("round %d: quarantined %v", round, q)
		}
	}
	p, c := start(rounds)
	checkAcked(ctx, t, c, acked, rounds)
	p.Stop()
}

// writeUntilKilled runs a few writers of unique keys, SIGKILLs etcd after
// delay, and returns the highest revision etcd acknowledged. Each writer is
// bounded, so the round ends even if the kill came late.
func writeUntilKilled(ctx context.Context, c *clientv3.Client, p *testserver.Proc, round int, delay time.Duration, acked map[string]string) int64 {
	const writers, perWriter = 4, 400
	var mu sync.Mutex
	var last int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				key := fmt.Sprintf("k/%02d/%d/%04d", round, w, i)
				value := fmt.Sprintf("v-%d-%d-%d", round, w, i)
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				resp, err := c.Put(wctx, key, value)
				cancel()
				if err != nil {
					return // etcd is gone
				}
				mu.Lock()
				acked[key] = value
				last = max(last, resp.Header.Revision)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(delay)
	syscall.Kill(p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.Exited()
	wg.Wait()
	return last
}

// checkAcked fails unless every acknowledged write is in etcd.
func checkAcked(ctx context.Context, t *testing.T, c *clientv3.Client, acked map[string]string, round int) {
	t.Helper()
	resp, err := c.Get(ctx, "k/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	for k, v := range acked {
		if got[k] != v {
			t.Fatalf("start %d: acknowledged write %s=%s is lost (have %q)", round, k, v, got[k])
		}
	}
}
