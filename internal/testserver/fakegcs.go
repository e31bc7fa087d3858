package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// FakeGCS is a fake-gcs-server started for a test, keeping objects in memory.
type FakeGCS struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT; its JSON API
	// lives under Endpoint + "/storage/v1/".
	Endpoint string
	Proc     *Proc
}

// FakeGCSOptions configures StartFakeGCSWith.
type FakeGCSOptions struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// ExternalURL is the base URL the server hands out for resumable
	// uploads in progress; empty means its own address. Set it to a proxy's address to
	// send every request of an upload through that proxy.
	ExternalURL string
	// Buckets to create once the server is up.
	Buckets []string
}

// StartFakeGCS runs fake-gcs-server on a free loopback port and creates the
// given buckets.
func StartFakeGCS(tb testing.TB, buckets ...string) *FakeGCS {
	tb.Helper()
	return StartFakeGCSWith(tb, FakeGCSOptions{Buckets: buckets})
}

// StartFakeGCSWith runs fake-gcs-server as opts says.
func StartFakeGCSWith(tb testing.TB, opts FakeGCSOptions) *FakeGCS {
	tb.Helper()
	bin := Tool(tb, "fake-gcs-server")
	port := opts.Port
	if port == 0 {
		port = FreePort(tb)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	endpoint := "http://" + addr
	external := opts.ExternalURL
	if external == "" {
		external = endpoint
	}
	p := Start(tb, "fake-gcs-server", exec.Command(bin,
		"-host", "127.0.0.1", "-port", strconv.Itoa(port),
		"-scheme", "http", "-backend", "memory", "-log-level", "warn",
		"-external-url", external, "-public-host", addr))
	f := &FakeGCS{Endpoint: endpoint, Proc: p}
	p.WaitReady(tb, 15*time.Second, func() error {
		resp, err := http.Get(endpoint + "/storage/v1/b")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("listing buckets: %s", resp.Status)
		}
		return nil
	})
	for _, b := range opts.Buckets {
		f.CreateBucket(tb, b)
	}
	return f
}

// CreateBucket creates a bucket through the JSON API.
func (f *FakeGCS) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	body, err := json.Marshal(map[string]string{"name": name})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(f.Endpoint+"/storage/v1/b", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("fake-gcs-server: create bucket %q: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		tb.Fatalf("fake-gcs-server: create bucket %q: %s: %s", name, resp.Status, msg.String())
	}
}
