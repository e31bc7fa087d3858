package supervisor

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/embedded"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/providers/file"
)

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestDaemonAPI runs the daemon on a real embedded etcd and a file store and
// drives every endpoint of its HTTP API.
func TestDaemonAPI(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "etcd")
	store, err := file.New(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := embedded.Config(embedded.Options{
		DataDir:          dataDir,
		ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs:   []string{"http://" + etcdtest.FreeAddr(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + api.Addr().String()
	sched, err := backup.ParseSchedule("0 0 1 1 *")
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{
		DataDir:   dataDir,
		Restorer:  Restorer{Store: store, Log: testLogger()},
		StartEtcd: func(ctx context.Context) (Etcd, error) { return embedded.Start(ctx, cfg, testLogger(), time.Minute) },
		Backup:    &backup.Scheduler{Store: store, Schedule: sched, MaxBackups: 3},
		API:       api,
		StopGrace: 10 * time.Second,
		Log:       testLogger(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(time.Minute)
	var h health
	for {
		status, body := call(t, "GET", base+"/healthz")
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/healthz body %q: %v", body, err)
		}
		if status == http.StatusOK && h.Health && h.Phase == PhaseRunning {
			break
		}
		if status != http.StatusServiceUnavailable || h.Reason == "" {
			t.Fatalf("/healthz before ready: %d %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never healthy: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The first full snapshot is taken at start: the store had none.
	var latest latestChain
	for deadline := time.Now().Add(30 * time.Second); latest.Full == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no full snapshot taken at start")
		}
		status, body := call(t, "GET", base+"/snapshot/latest")
		if status != http.StatusOK {
			t.Fatalf("/snapshot/latest: %d %s", status, body)
		}
		if err := json.Unmarshal([]byte(body), &latest); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	status, body := call(t, "POST", base+"/snapshot/full")
	var m backup.Manifest
	if err := json.Unmarshal([]byte(body), &m); status != http.StatusOK || err != nil || m.Kind != backup.KindFull || m.Revision < 1 {
		t.Fatalf("POST /snapshot/full: %d %s", status, body)
	}
	status, body = call(t, "GET", base+"/snapshot/latest")
	if err := json.Unmarshal([]byte(body), &latest); status != http.StatusOK || err != nil || latest.Full == nil || latest.Full.Data != m.Data {
		t.Fatalf("/snapshot/latest after POST: %d %s", status, body)
	}
	if status, _ := call(t, "GET", base+"/snapshot/full"); status != http.StatusMethodNotAllowed {
		t.Errorf("GET /snapshot/full: %d, want 405", status)
	}
	status, body = call(t, "GET", base+"/metrics")
	for _, want := range []string{
		`etcdbr_snapshot_latest_revision{kind="Full"}`,
		`etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 2`,
	} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after a stop request: %v", err)
	}
	done <- nil
	if clean, err := datadir.TakeCleanStop(dataDir); err != nil || !clean {
		t.Fatalf("clean stop not recorded: %v %v", clean, err)
	}
}

func call(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
