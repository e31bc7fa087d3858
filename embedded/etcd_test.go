package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// generousReady bounds waiting for a healthy single member; it is a guard
// against hangs, not an assertion about speed.
const generousReady = time.Minute

// freePort returns a port that was free a moment ago. Peer URLs must be
// concrete because the initial cluster names them.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Name:             "test",
		DataDir:          t.TempDir(),
		ListenClientURLs: []string{"http://127.0.0.1:0"},
		ListenPeerURLs:   []string{fmt.Sprintf("http://127.0.0.1:%d", freePort(t))},
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func startTestEtcd(t *testing.T, opts Options, log *slog.Logger) *Etcd {
	t.Helper()
	cfg, err := Config(opts)
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	e, err := Start(t.Context(), cfg, log, generousReady)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

func putGet(t *testing.T, url string) {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: generousReady})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(t.Context(), generousReady)
	defer cancel()
	if _, err := client.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
	resp, err := client.Get(ctx, "k")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get k = %v, want v", resp.Kvs)
	}
}

func TestStartServeStop(t *testing.T) {
	e := startTestEtcd(t, testOptions(t), discardLogger())

	url := e.ClientURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("ClientURL() = %q, want the bound 127.0.0.1 address", url)
	}
	putGet(t, url)
	if e.Server() == nil || e.Server().Leader() == 0 {
		t.Error("Server() has no leader after Start returned")
	}

	select {
	case err := <-e.Err():
		t.Fatalf("Err() reported %v while etcd runs", err)
	default:
	}
	for i := range 2 {
		if err := e.Stop(t.Context()); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	// Stop returns only after Err() is closed, so this does not block.
	select {
	case err, ok := <-e.Err():
		if ok {
			t.Errorf("Err() delivered %v after Stop, want a closed channel", err)
		}
	default:
		t.Error("Err() is still open after Stop")
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		conn.Close()
		t.Error("client address still accepts connections after Stop")
	}
}

// A server that stops on its own is a fatal error for the daemon.
func TestErrReportsUnexpectedStop(t *testing.T) {
	e := startTestEtcd(t, testOptions(t), discardLogger())
	e.Server().HardStop()
	err, ok := <-e.Err()
	if !ok || !errors.Is(err, ErrServerStopped) {
		t.Fatalf("Err() = %v, %v; want ErrServerStopped", err, ok)
	}
}

// etcdGoroutines lists goroutines running etcd server or raft code.
func etcdGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "go.etcd.io/etcd/server/v3/") || strings.Contains(g, "go.etcd.io/raft/v3") {
			found = append(found, g)
		}
	}
	return found
}

// waitNoEtcdGoroutines waits for etcd's goroutines to finish exiting; the
// limit only keeps a leak from hanging the test.
func waitNoEtcdGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := etcdGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d etcd goroutines left, first:\n%s", len(left), left[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkPortFree(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Errorf("port %d still in use: %v", port, err)
		return
	}
	l.Close()
}

// A member whose initial cluster names a second member that never comes
// has no quorum and never becomes ready.
func TestStartNotReady(t *testing.T) {
	tests := []struct {
		name         string
		readyTimeout time.Duration
		ctxTimeout   time.Duration
		wantErr      error
		long         bool // skipped with -short: the other case covers the cleanup
	}{
		{"ready timeout", 2 * time.Second, 0, ErrNotReady, false},
		{"context deadline", 0, 2 * time.Second, context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.long && testing.Short() {
				t.Skip("waits for readiness to time out")
			}
			clientPort, peerPort, absentPeerPort := freePort(t), freePort(t), freePort(t)
			opts := testOptions(t)
			opts.ListenClientURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", clientPort)}
			opts.ListenPeerURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", peerPort)}
			opts.InitialCluster = fmt.Sprintf("test=http://127.0.0.1:%d,absent=http://127.0.0.1:%d", peerPort, absentPeerPort)
			cfg, err := Config(opts)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			ctx := t.Context()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}

			e, err := Start(ctx, cfg, discardLogger(), tt.readyTimeout)
			if err == nil {
				e.Stop(context.Background())
				t.Fatal("Start succeeded without quorum")
			}
			if !errors.Is(err, ErrNotReady) || !errors.Is(err, tt.wantErr) {
				t.Errorf("Start error = %v, want %v", err, tt.wantErr)
			}
			checkPortFree(t, clientPort)
			checkPortFree(t, peerPort)
			waitNoEtcdGoroutines(t)
		})
	}
}

func TestStartClientPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	peerPort := freePort(t)

	opts := testOptions(t)
	opts.ListenClientURLs = []string{"http://" + taken.Addr().String()}
	opts.ListenPeerURLs = []string{fmt.Sprintf("http://127.0.0.1:%d", peerPort)}
	cfg, err := Config(opts)
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	e, err := Start(t.Context(), cfg, discardLogger(), generousReady)
	if err == nil {
		e.Stop(context.Background())
		t.Fatal("Start succeeded on a port in use")
	}
	if !strings.Contains(err.Error(), taken.Addr().String()) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Start error = %v, want address in use naming %s", err, taken.Addr())
	}
	checkPortFree(t, peerPort)
}

func TestStartCancelledContext(t *testing.T) {
	cfg, err := Config(testOptions(t))
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Start(ctx, cfg, discardLogger(), generousReady); !errors.Is(err, context.Canceled) {
		t.Errorf("Start error = %v, want context.Canceled", err)
	}
}

func TestEtcdLogsThroughSlog(t *testing.T) {
	h := &captureHandler{level: slog.LevelInfo}
	opts := testOptions(t)
	e := startTestEtcd(t, opts, slog.New(h))
	putGet(t, e.ClientURL())

	stopFrom := len(h.snapshot())
	if err := e.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	records := h.snapshot()

	sawStart := false
	for _, r := range records {
		if r.Level < slog.LevelInfo {
			t.Errorf("record below info reached an info handler: %v %q", r.Level, r.Message)
		}
		if r.Message == "starting an etcd server" && r.Level == slog.LevelInfo {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "name" && a.Value.String() == opts.Name {
					sawStart = true
				}
				return true
			})
		}
	}
	if !sawStart {
		t.Error(`no info record "starting an etcd server" with name attribute`)
	}
	if len(records) == stopFrom {
		t.Fatal("no records while stopping; etcd logs its closing at info")
	}
	for _, r := range records[stopFrom:] {
		if r.Level >= slog.LevelError {
			t.Errorf("error record during Stop: %q", r.Message)
		}
	}
}
