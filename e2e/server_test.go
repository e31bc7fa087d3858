package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/datadir"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/internal/testcert"
)

// serverArgs are the flags of a `server` beside the etcd at endpoint, with
// a Local store in storeDir and a data dir to initialize at dataDir.
func serverArgs(endpoint, storeDir, dataDir string, apiPort int, extra ...string) []string {
	return append([]string{"server",
		"--endpoints", endpoint,
		"--storage-provider", "Local", "--store-container", storeDir,
		"--data-dir", dataDir,
		"--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--server-port", fmt.Sprint(apiPort),
		"--schedule", "0 0 1 1 *",
		"--etcd-connection-timeout", "5s",
	}, extra...)
}

type manifestJSON struct {
	Kind     string `json:"kind"`
	Revision int64  `json:"revision"`
	Data     string `json:"data"`
}

// TestServerTLSTokenAndClientCerts drives every endpoint of `server` over
// HTTPS with client certificates and a bearer token, against a real etcd.
func TestServerTLSTokenAndClientCerts(t *testing.T) {
	dir := t.TempDir()
	e, etcd := etcdtest.Start(t, filepath.Join(dir, "live"))
	endpoint := "http://" + e.Clients[0].Addr().String()
	fill(t, etcd)

	ca := testcert.NewCA(t, dir, "api-ca")
	serverPair := ca.Server(t, "api")
	clientPair := ca.Client(t, "operator")
	token := writeFile(t, filepath.Join(dir, "token"), "s3cr3t-api-token\n")
	storeDir := filepath.Join(dir, "backups")
	initDir := filepath.Join(dir, "member.etcd")
	port := freePort(t)
	p := start(t, serverArgs(endpoint, storeDir, initDir, port,
		"--server-cert", serverPair.CertFile, "--server-key", serverPair.KeyFile,
		"--server-client-ca", ca.CertFile, "--api-token-file", token)...)

	base := newAPIClient(t, fmt.Sprintf("https://127.0.0.1:%d", port))
	anonymous := base.withTLS(&tls.Config{RootCAs: ca.Pool()})
	operator := base.withTLS(&tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientPair.TLSCertificate(t)}})
	authorized := operator.withToken("s3cr3t-api-token")
	anonymous.waitHealthy(p) // probes need no client certificate

	if status, _, err := newAPIClient(t, fmt.Sprintf("http://127.0.0.1:%d", port)).try("GET", "/healthz"); err == nil && status != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS API: status %d, want 400", status)
	}
	// The store had no backup: one is taken at start.
	waitFor(t, p, 30*time.Second, "the first full snapshot", func() bool { return len(fullSnapshots(t, storeDir)) == 1 })

	// Refusals: each a 4xx with a message.
	anonymous.refused("GET", "/metrics", 401, "client certificate")
	anonymous.withToken("s3cr3t-api-token").refused("POST", "/snapshot/full", 401, "client certificate")
	operator.refused("POST", "/snapshot/full", 401, "Authorization: Bearer")
	operator.withToken("wrong").refused("POST", "/snapshot/full", 401, "token is wrong")
	authorized.refused("GET", "/snapshot/full", 405, "use POST")
	authorized.refused("DELETE", "/snapshot/latest", 405, "use GET")
	authorized.refused("POST", "/snapshot/full?final=perhaps", 400, "final=")
	authorized.refused("POST", "/initialization/start?mode=thorough", 400, "unknown mode")
	operator.refused("POST", "/initialization/start?mode=full", 401, "Authorization: Bearer")
	authorized.refused("GET", "/debug/pprof/", 404, "no such endpoint")

	// A full snapshot on request, then the latest chain names it.
	if _, err := etcd.Put(context.Background(), "after-first", "x"); err != nil {
		t.Fatal(err)
	}
	status, body := authorized.call("POST", "/snapshot/full")
	var full manifestJSON
	if err := json.Unmarshal([]byte(body), &full); status != 200 || err != nil || full.Kind != "full" || full.Revision < 2 {
		t.Fatalf("POST /snapshot/full: %d %s", status, body)
	}
	status, body = operator.call("GET", "/snapshot/latest")
	var latest struct {
		Full   *manifestJSON  `json:"full"`
		Deltas []manifestJSON `json:"deltas"`
	}
	if err := json.Unmarshal([]byte(body), &latest); status != 200 || err != nil || latest.Full == nil || latest.Full.Data != full.Data {
		t.Fatalf("GET /snapshot/latest: %d %s, want %s", status, body, full.Data)
	}
	if _, err := etcd.Put(context.Background(), "for-a-delta", "x"); err != nil {
		t.Fatal(err)
	}
	status, body = authorized.call("POST", "/snapshot/delta")
	var delta manifestJSON
	if err := json.Unmarshal([]byte(body), &delta); status != 200 || err != nil || delta.Kind != "delta" {
		t.Fatalf("POST /snapshot/delta: %d %s, want a delta", status, body)
	}

	status, body = operator.call("GET", "/metrics")
	for _, want := range []string{
		`etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 2`,
		fmt.Sprintf(`etcdbr_snapshot_latest_revision{kind="Full"} %d`, full.Revision),
		`etcdbr_snapshot_latest_timestamp{kind="Full"}`,
		`etcdbr_snapshot_required{kind="Full"} 0`,
		`etcdbr_snapshot_gc_total{kind="Full",succeeded="true"}`,
		`etcdbr_validation_duration_seconds_count{succeeded="true"} 0`,
		`etcdbr_restoration_duration_seconds_count{succeeded="true"} 0`,
		`go_goroutines`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Initialization restores the empty data dir from the newest backup.
	if status, body := operator.call("GET", "/initialization/status"); status != 200 || body != "New" {
		t.Fatalf("/initialization/status before: %d %q", status, body)
	}
	if status, body := authorized.call("POST", "/initialization/start?mode=sanity"); status != 200 {
		t.Fatalf("POST /initialization/start: %d %s", status, body)
	}
	if got := operator.pollInitialization(); got != "Successful" {
		t.Fatalf("initialization: %s\n%s", got, p.out.String())
	}
	report, err := datadir.Validate(context.Background(), initDir, datadir.Full)
	// The newest chain: the full snapshot and the delta after it.
	if err != nil || report.State != datadir.Valid || report.Revision != delta.Revision {
		t.Fatalf("initialized data dir: %+v %v, want valid at %d", report, err, delta.Revision)
	}
	status, body = operator.call("GET", "/metrics")
	for _, want := range []string{
		`etcdbr_validation_duration_seconds_count{succeeded="false"} 1`, // the empty dir
		`etcdbr_restoration_duration_seconds_count{succeeded="true"} 1`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics after initialization lacks %s", want)
		}
	}

	// A final snapshot, then a clean stop.
	status, body = authorized.call("POST", "/snapshot/full?final=true")
	if status != 200 || !strings.Contains(body, `"kind": "full"`) {
		t.Fatalf("POST /snapshot/full?final=true: %d %s", status, body)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.out.String())
	}
	if strings.Contains(p.out.String(), "s3cr3t") {
		t.Fatalf("the token reached the log:\n%s", p.out.String())
	}
}

// TestServerGetActionsAndProfiling: plain HTTP, old scripts' GET on
// actions with --allow-get-actions, and the profiler when enabled.
func TestServerGetActionsAndProfiling(t *testing.T) {
	dir := t.TempDir()
	e, etcd := etcdtest.Start(t, filepath.Join(dir, "live"))
	fill(t, etcd)
	storeDir := filepath.Join(dir, "backups")
	initDir := filepath.Join(dir, "member.etcd")
	port := freePort(t)
	p := start(t, serverArgs("http://"+e.Clients[0].Addr().String(), storeDir, initDir, port,
		"--allow-get-actions", "--enable-profiling")...)
	api := newAPIClient(t, fmt.Sprintf("http://127.0.0.1:%d", port))
	api.waitHealthy(p)

	status, body := api.call("GET", "/snapshot/full")
	var full manifestJSON
	if err := json.Unmarshal([]byte(body), &full); status != 200 || err != nil || full.Revision < 2 {
		t.Fatalf("GET /snapshot/full with --allow-get-actions: %d %s", status, body)
	}
	api.refused("PUT", "/snapshot/full", 405, "POST, GET")
	api.refused("GET", "/initialization/start?mode=none", 400, "unknown mode")
	if status, body := api.call("GET", "/initialization/start?mode=full"); status != 200 {
		t.Fatalf("GET /initialization/start: %d %s", status, body)
	}
	if got := api.pollInitialization(); got != "Successful" {
		t.Fatalf("initialization: %s\n%s", got, p.out.String())
	}
	// Initializing a valid data dir keeps it as it is.
	if status, body := api.call("POST", "/initialization/start?mode=full"); status != 200 {
		t.Fatalf("second initialization: %d %s", status, body)
	}
	if got := api.pollInitialization(); got != "Successful" {
		t.Fatalf("second initialization: %s", got)
	}
	if q, _ := filepath.Glob(initDir + ".quarantine-*"); len(q) != 0 {
		t.Fatalf("a valid data dir was quarantined: %v", q)
	}
	if status, body := api.call("GET", "/debug/pprof/"); status != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ with --enable-profiling: %d", status)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// TestServerBadInput: each mistake is one line naming the flag, exit 2.
func TestServerBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, filepath.Join(dir, "empty-token"), "\n")
	store := filepath.Join(dir, "backups")
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"no container", []string{"server", "--storage-provider", "Local"}, "--store-container"},
		{"store and provider", []string{"server", "--store", store, "--storage-provider", "Local", "--store-container", store}, "--storage-provider"},
		{"unknown provider", []string{"server", "--storage-provider", "Tape", "--store-container", store}, "--storage-provider"},
		{"empty token file", []string{"server", "--store", store, "--api-token-file", empty}, "--api-token-file"},
		{"client CA without TLS", []string{"server", "--store", store, "--server-client-ca", empty}, "--server-client-ca"},
		{"bad endpoint", []string{"server", "--store", store, "--endpoints", "localhost"}, "--etcd-endpoints"},
		{"snapshot: password without user", []string{"snapshot", "--store", store, "--etcd-password", "pw"}, "--etcd-username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--server-port", fmt.Sprint(freePort(t)))
			if tc.args[0] == "snapshot" {
				args = tc.args
			}
			code, out := runCLI(t, args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 2 || !strings.Contains(lines[len(lines)-1], tc.flag) {
				t.Fatalf("exit %d, want 2 with the last line naming %s:\n%s", code, tc.flag, out)
			}
		})
	}
}
