package supervisor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
	"etcdbrctl/internal/etcdtest"
	"etcdbrctl/internal/testcert"
	"etcdbrctl/providers"
	"etcdbrctl/providers/file"
)

// apiFixture is an API over a real embedded etcd, a file store and the real
// scheduler, served by httptest.
type apiFixture struct {
	api    *API
	sched  *backup.Scheduler
	store  providers.Store
	client *clientv3.Client
	token  string // path of the token file
	url    string
}

func newAPIFixture(t *testing.T, opts APIOptions, init Initializer) *apiFixture {
	t.Helper()
	_, client := etcdtest.Start(t, filepath.Join(t.TempDir(), "etcd"))
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sched, err := backup.ParseSchedule("0 0 1 1 *")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f := &apiFixture{store: store, client: client}
	f.sched = &backup.Scheduler{Etcd: client, Store: store, Schedule: sched, MaxBackups: 3,
		Metrics: backup.NewMetrics(reg), Log: testLogger()}
	if opts.TokenFile == "yes" {
		f.token = filepath.Join(t.TempDir(), "token")
		writeToken(t, f.token, "first-secret")
		opts.TokenFile = f.token
	}
	f.api = &API{
		Etcd:        func() *clientv3.Client { return client },
		Snapshots:   f.sched,
		Store:       store,
		Initializer: init,
		Gatherer:    reg,
		Options:     opts,
		Log:         testLogger(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(f.api.Handler(ctx))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		f.api.Wait()
	})
	f.url = srv.URL
	return f
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
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

// errorMessage reads the JSON refusal every 4xx carries.
func errorMessage(t *testing.T, body string) string {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("refusal without a JSON message: %q (%v)", body, err)
	}
	return e.Error
}

// TestAPIRequestRules: methods, token and bad parameters, each refusal a
// 4xx with a message naming what to fix; accepted requests do their work.
func TestAPIRequestRules(t *testing.T) {
	f := newAPIFixture(t, APIOptions{TokenFile: "yes"}, nil)
	const good = "first-secret"
	for _, tc := range []struct {
		method, path, token string
		status              int
		message             string // in the JSON error; "" for success
	}{
		{"GET", "/snapshot/full", good, 405, "use POST"},
		{"PUT", "/snapshot/full", good, 405, "use POST"},
		{"GET", "/snapshot/delta", good, 405, "--allow-get-actions"},
		{"GET", "/initialization/start", good, 405, "--allow-get-actions"},
		{"POST", "/snapshot/latest", good, 405, "use GET"},
		{"DELETE", "/healthz", "", 405, "use GET"},
		{"POST", "/initialization/status", good, 405, "use GET"},
		{"POST", "/snapshot/full", "", 401, "Authorization: Bearer"},
		{"POST", "/snapshot/full", "wrong", 401, "token is wrong"},
		{"POST", "/snapshot/delta", "", 401, "Authorization: Bearer"},
		{"POST", "/initialization/start?mode=full", "", 401, "Authorization: Bearer"},
		{"POST", "/snapshot/full?final=maybe", good, 400, "final="},
		{"POST", "/initialization/start?mode=quick", good, 400, "unknown mode"},
		{"POST", "/initialization/start?mode=full&failbelowrevision=x", good, 400, "failbelowrevision"},
		{"POST", "/initialization/start?mode=full", good, 501, "not available"},
		{"GET", "/no/such/thing", "", 404, "no such endpoint"},
		{"GET", "/debug/pprof/", "", 404, "no such endpoint"},
		{"POST", "/snapshot/full", good, 200, ""},
		{"GET", "/snapshot/latest", "", 200, ""},
		{"GET", "/healthz", "", 200, ""},
		{"GET", "/metrics", "", 200, ""},
		{"GET", "/initialization/status", "", 200, ""},
	} {
		status, body := do(t, http.DefaultClient, tc.method, f.url+tc.path, tc.token)
		if status != tc.status {
			t.Errorf("%s %s: status %d, want %d: %s", tc.method, tc.path, status, tc.status, body)
			continue
		}
		if tc.message != "" {
			if msg := errorMessage(t, body); !strings.Contains(msg, tc.message) {
				t.Errorf("%s %s: message %q does not mention %q", tc.method, tc.path, msg, tc.message)
			}
		}
	}
	// Only the accepted POST took a snapshot.
	c, err := backup.ReadCatalog(context.Background(), f.store)
	if err != nil || len(c.Fulls()) != 1 {
		t.Fatalf("store holds %d full snapshots (%v), want the one accepted request's", len(c.Fulls()), err)
	}
}

// TestAPITokenRotation: a new token in the file takes effect at once and
// the old one stops working; an emptied file admits nobody.
func TestAPITokenRotation(t *testing.T) {
	f := newAPIFixture(t, APIOptions{TokenFile: "yes"}, nil)
	url := f.url + "/snapshot/full"
	if status, body := do(t, http.DefaultClient, "POST", url, "first-secret"); status != 200 {
		t.Fatalf("first token: %d %s", status, body)
	}
	writeToken(t, f.token, "second-longer-secret")
	if status, _ := do(t, http.DefaultClient, "POST", url, "first-secret"); status != 401 {
		t.Fatalf("old token after rotation: %d, want 401", status)
	}
	if status, body := do(t, http.DefaultClient, "POST", url, "second-longer-secret"); status != 200 {
		t.Fatalf("new token: %d %s", status, body)
	}
	if err := os.WriteFile(f.token, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.DefaultClient, "POST", url, "second-longer-secret")
	if status != http.StatusServiceUnavailable || !strings.Contains(errorMessage(t, body), "token file") {
		t.Fatalf("emptied token file: %d %s, want 503 naming the token file", status, body)
	}
}

// TestAPIAllowGetActions: old scripts that GET actions work when allowed.
func TestAPIAllowGetActions(t *testing.T) {
	f := newAPIFixture(t, APIOptions{AllowGetActions: true}, nil)
	status, body := do(t, http.DefaultClient, "GET", f.url+"/snapshot/full", "")
	var m backup.Manifest
	if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil || m.Revision < 1 {
		t.Fatalf("GET /snapshot/full with --allow-get-actions: %d %s", status, body)
	}
	if status, body := do(t, http.DefaultClient, "PUT", f.url+"/snapshot/full", ""); status != 405 || !strings.Contains(errorMessage(t, body), "POST, GET") {
		t.Fatalf("PUT: %d %s", status, body)
	}
}

// TestAPISnapshots: full, final, delta and latest on the real scheduler.
func TestAPISnapshots(t *testing.T) {
	f := newAPIFixture(t, APIOptions{}, nil)
	ctx := context.Background()
	if _, err := f.client.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	status, body := do(t, http.DefaultClient, "POST", f.url+"/snapshot/full", "")
	var full backup.Manifest
	if err := json.Unmarshal([]byte(body), &full); status != 200 || err != nil || full.Kind != backup.KindFull {
		t.Fatalf("POST /snapshot/full: %d %s", status, body)
	}
	if f.sched.Ended() {
		t.Fatal("a plain full snapshot ended the schedule")
	}
	if _, err := f.client.Put(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	status, body = do(t, http.DefaultClient, "POST", f.url+"/snapshot/full?final=true", "")
	var final backup.Manifest
	if err := json.Unmarshal([]byte(body), &final); status != 200 || err != nil || final.Revision != full.Revision+1 {
		t.Fatalf("POST /snapshot/full?final=true: %d %s (first at %d)", status, body, full.Revision)
	}
	if !f.sched.Ended() {
		t.Fatal("a final snapshot did not end the schedule")
	}
	status, body = do(t, http.DefaultClient, "GET", f.url+"/snapshot/latest", "")
	var latest latestChain
	if err := json.Unmarshal([]byte(body), &latest); status != 200 || err != nil || latest.Full == nil || latest.Full.Data != final.Data {
		t.Fatalf("GET /snapshot/latest: %d %s, want the final snapshot", status, body)
	}

	status, body = do(t, http.DefaultClient, "POST", f.url+"/snapshot/delta", "")
	// The scheduler here runs no delta loop (the e2e tests take deltas).
	if status != http.StatusConflict || !strings.Contains(errorMessage(t, body), "delta snapshots are not running") {
		t.Fatalf("POST /snapshot/delta without deltas: %d %s, want 409 with a message", status, body)
	}

	status, body = do(t, http.DefaultClient, "GET", f.url+"/metrics", "")
	for _, want := range []string{
		`etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 2`,
		fmt.Sprintf(`etcdbr_snapshot_latest_revision{kind="Full"} %d`, final.Revision),
		`etcdbr_snapshot_required{kind="Full"} 0`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAPIWithoutEtcd: before etcd is there, health and snapshots say why not.
func TestAPIWithoutEtcd(t *testing.T) {
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	api := &API{
		Phase:     func() Phase { return PhaseStarting },
		Etcd:      func() *clientv3.Client { return nil },
		Snapshots: &backup.Scheduler{Store: store},
		Store:     store,
	}
	srv := httptest.NewServer(api.Handler(context.Background()))
	defer srv.Close()
	status, body := do(t, http.DefaultClient, "GET", srv.URL+"/healthz", "")
	var h health
	if err := json.Unmarshal([]byte(body), &h); status != 503 || err != nil || h.Health || h.Phase != PhaseStarting {
		t.Fatalf("/healthz: %d %s", status, body)
	}
	status, body = do(t, http.DefaultClient, "POST", srv.URL+"/snapshot/full", "")
	if status != 503 || !strings.Contains(errorMessage(t, body), "not running yet") {
		t.Fatalf("/snapshot/full: %d %s", status, body)
	}
	status, body = do(t, http.DefaultClient, "GET", srv.URL+"/snapshot/latest", "")
	if status != 200 || !strings.Contains(body, `"full": null`) {
		t.Fatalf("/snapshot/latest of an empty store: %d %s", status, body)
	}
}

// TestAPIInitialization restores an empty data dir through the API and
// reports a data dir it cannot repair as Failed, with gardener's status words.
func TestAPIInitialization(t *testing.T) {
	ctx := context.Background()
	dataDir := filepath.Join(t.TempDir(), "etcd")
	var f *apiFixture
	initer := &DataDirInitializer{DataDir: dataDir}
	f = newAPIFixture(t, APIOptions{}, initer)
	initer.Restorer = Restorer{Store: f.store, Log: testLogger(),
		Member: backup.Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}}
	m, err := f.sched.TakeFull(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if status, body := do(t, http.DefaultClient, "GET", f.url+"/initialization/status", ""); status != 200 || body != "New" {
		t.Fatalf("status before any initialization: %d %q, want New", status, body)
	}
	status, body := do(t, http.DefaultClient, "POST", f.url+"/initialization/start?mode=sanity", "")
	if status != 200 {
		t.Fatalf("start: %d %s", status, body)
	}
	if got := pollInitialization(t, f.url); got != "Successful" {
		t.Fatalf("initialization of an empty data dir with a backup: %s", got)
	}
	if status, body := do(t, http.DefaultClient, "GET", f.url+"/initialization/status", ""); body != "New" {
		t.Fatalf("status after the result was read: %d %q, want New", status, body)
	}
	report, err := datadir.Validate(ctx, dataDir, datadir.Full)
	if err != nil || report.State != datadir.Valid || report.Revision != m.Revision {
		t.Fatalf("restored data dir: %+v %v, want valid at %d", report, err, m.Revision)
	}

	// A broken data dir with an empty store cannot be repaired.
	broken := filepath.Join(t.TempDir(), "etcd")
	breakDB(dataDir)(t, broken)
	empty, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	initer.DataDir, initer.Restorer.Store = broken, empty
	if status, body := do(t, http.DefaultClient, "POST", f.url+"/initialization/start", ""); status != 200 {
		t.Fatalf("start: %d %s", status, body)
	}
	got := pollInitializationJSON(t, f.url)
	if got.Status != InitFailed || !strings.Contains(got.Error, "no backup") {
		t.Fatalf("initialization of a broken data dir without backups: %+v, want Failed naming the missing backup", got)
	}
}

// pollInitialization reads /initialization/status as gardener's scripts do
// until it is no longer Progress.
func pollInitialization(t *testing.T, base string) string {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		status, body := do(t, http.DefaultClient, "GET", base+"/initialization/status", "")
		if status != 200 {
			t.Fatalf("status: %d %s", status, body)
		}
		if body != string(InitProgress) {
			return body
		}
	}
	t.Fatal("initialization still in progress after a minute")
	return ""
}

func pollInitializationJSON(t *testing.T, base string) initStatusBody {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		req, err := http.NewRequest("GET", base+"/initialization/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b initStatusBody
		err = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b.Status != InitProgress {
			return b
		}
	}
	t.Fatal("initialization still in progress after a minute")
	return initStatusBody{}
}

// TestAPIClientCertificates: with a client CA, every endpoint but /healthz
// needs a certificate the CA signed; one from another CA fails the handshake.
func TestAPIClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "api-ca")
	other := testcert.NewCA(t, dir, "other-ca")
	f := newAPIFixture(t, APIOptions{ClientCertRequired: true, EnableProfiling: true}, nil)
	srv := httptest.NewUnstartedServer(f.api.Handler(context.Background()))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.Server(t, "server").TLSCertificate(t)},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}
	srv.StartTLS()
	defer srv.Close()
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: certs}}}
	}
	anonymous := client()
	trusted := client(ca.Client(t, "operator").TLSCertificate(t))
	// The stranger sends its certificate whatever CAs the server names, so
	// that the server's own check is what refuses it.
	strangerCert := other.Client(t, "stranger").TLSCertificate(t)
	stranger := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &strangerCert, nil }}}}

	if status, body := do(t, anonymous, "GET", srv.URL+"/healthz", ""); status != 200 {
		t.Fatalf("/healthz without a certificate: %d %s", status, body)
	}
	for _, path := range []string{"/metrics", "/snapshot/latest", "/initialization/status", "/debug/pprof/"} {
		status, body := do(t, anonymous, "GET", srv.URL+path, "")
		if status != 401 || !strings.Contains(errorMessage(t, body), "client certificate") {
			t.Errorf("%s without a certificate: %d %s", path, status, body)
		}
		if status, body := do(t, trusted, "GET", srv.URL+path, ""); status != 200 {
			t.Errorf("%s with a trusted certificate: %d %s", path, status, body)
		}
	}
	if status, body := do(t, trusted, "POST", srv.URL+"/snapshot/full", ""); status != 200 {
		t.Fatalf("POST /snapshot/full with a trusted certificate: %d %s", status, body)
	}
	if resp, err := stranger.Get(srv.URL + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate from another CA was accepted: %d", resp.StatusCode)
	}
}
