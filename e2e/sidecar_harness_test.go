package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"etcdbrctl/internal/etcdtest"
)

// startEtcdAt runs an embedded etcd, for the commands that back up an etcd
// they do not run, serving clients on clientAddr (host:port).
func startEtcdAt(t *testing.T, dir, clientAddr string) *clientv3.Client {
	t.Helper()
	return startEtcdWith(t, dir, clientAddr, nil)
}

// startEtcdWith is startEtcdAt with TLS on the client port when tlsInfo is
// given; the returned client is then nil.
func startEtcdWith(t *testing.T, dir, clientAddr string, tlsInfo *transport.TLSInfo) *clientv3.Client {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.ListenMetricsUrls = nil
	cfg.UnsafeNoFsync = true
	// Password checks in tests need no protection against guessing.
	cfg.BcryptCost = 4 // bcrypt's minimum
	client := url.URL{Scheme: "http", Host: clientAddr}
	if tlsInfo != nil {
		client.Scheme = "https"
		cfg.ClientTLSInfo = *tlsInfo
	}
	peer := url.URL{Scheme: "http", Host: etcdtest.FreeAddr(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcdtest.Stop(e) })
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not become ready")
	}
	if tlsInfo != nil {
		return nil
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// apiClient calls the HTTP API of a running etcdbrctl.
type apiClient struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string
}

func newAPIClient(t *testing.T, base string) *apiClient {
	return &apiClient{t: t, base: base, http: &http.Client{Timeout: time.Minute}}
}

// withTLS returns a copy that trusts roots and presents certs.
func (a *apiClient) withTLS(tlsConfig *tls.Config) *apiClient {
	c := *a
	c.http = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	return &c
}

func (a *apiClient) withToken(token string) *apiClient {
	c := *a
	c.token = token
	return &c
}

// call sends a request and returns the status and body; a transport error
// fails the test.
func (a *apiClient) call(method, path string) (int, string) {
	a.t.Helper()
	status, body, err := a.try(method, path)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, body
}

func (a *apiClient) try(method, path string) (int, string, error) {
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// refused checks that a request gets the status with a JSON message
// mentioning piece.
func (a *apiClient) refused(method, path string, status int, piece string) {
	a.t.Helper()
	got, body := a.call(method, path)
	var e struct {
		Error string `json:"error"`
	}
	if got != status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, piece) {
		a.t.Errorf("%s %s: %d %s, want %d with a message mentioning %q", method, path, got, body, status, piece)
	}
}

// waitHealthy polls /healthz until 200.
func (a *apiClient) waitHealthy(p *proc) {
	a.t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case <-p.done:
			a.t.Fatalf("etcdbrctl exited early (%v):\n%s", p.waitErr, p.out.String())
		default:
		}
		if status, _, err := a.try("GET", "/healthz"); err == nil && status == http.StatusOK {
			return
		}
	}
	a.t.Fatalf("never healthy:\n%s", p.out.String())
}

// pollInitialization reads /initialization/status until it leaves Progress.
func (a *apiClient) pollInitialization() string {
	a.t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		status, body := a.call("GET", "/initialization/status")
		if status != http.StatusOK {
			a.t.Fatalf("/initialization/status: %d %s", status, body)
		}
		if body != "Progress" {
			return body
		}
	}
	a.t.Fatal("initialization still in progress after a minute")
	return ""
}

// fullSnapshots lists the full snapshot manifests in a Local store.
func fullSnapshots(t *testing.T, storeDir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(storeDir, "etcdbr-v1", "full-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, p *proc, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("etcdbrctl exited (%v) before %s:\n%s", p.waitErr, what, p.out.String())
		default:
		}
	}
	t.Fatalf("%s did not happen within %v:\n%s", what, timeout, p.out.String())
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
