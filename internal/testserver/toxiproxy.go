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

// Toxiproxy is a toxiproxy server started for a test; it puts faults
// (latency, resets, dropped connections) between a client and a server.
type Toxiproxy struct {
	API string // http://127.0.0.1:PORT
}

// StartToxiproxy runs toxiproxy-server on a free loopback port.
func StartToxiproxy(tb testing.TB) *Toxiproxy {
	tb.Helper()
	bin := Tool(tb, "toxiproxy-server")
	port := FreePort(tb)
	p := Start(tb, "toxiproxy", exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port)))
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p.WaitTCP(tb, addr, 10*time.Second)
	return &Toxiproxy{API: "http://" + addr}
}

// Proxy is one listening address of toxiproxy that forwards to an upstream.
type Proxy struct {
	Name   string
	Listen string // 127.0.0.1:PORT, what the client dials
	tp     *Toxiproxy
}

// Proxy creates a proxy to upstream (host:port) on a free loopback port.
func (t *Toxiproxy) Proxy(tb testing.TB, name, upstream string) *Proxy {
	tb.Helper()
	listen := "127.0.0.1:" + strconv.Itoa(FreePort(tb))
	t.call(tb, "POST", "/proxies", map[string]any{
		"name": name, "listen": listen, "upstream": upstream, "enabled": true,
	})
	return &Proxy{Name: name, Listen: listen, tp: t}
}

// AddToxic adds a fault; typ is a toxiproxy toxic type ("latency",
// "reset_peer", "timeout", "limit_data", "bandwidth", ...), stream
// "upstream" or "downstream", attrs its attributes.
func (p *Proxy) AddToxic(tb testing.TB, name, typ, stream string, toxicity float64, attrs map[string]any) {
	tb.Helper()
	p.tp.call(tb, "POST", "/proxies/"+p.Name+"/toxics", map[string]any{
		"name": name, "type": typ, "stream": stream, "toxicity": toxicity, "attributes": attrs,
	})
}

// RemoveToxic removes a fault added by AddToxic.
func (p *Proxy) RemoveToxic(tb testing.TB, name string) {
	tb.Helper()
	p.tp.call(tb, "DELETE", "/proxies/"+p.Name+"/toxics/"+name, nil)
}

// SetEnabled takes the proxy down (closing every connection through it and
// refusing new ones) or brings it back up.
func (p *Proxy) SetEnabled(tb testing.TB, enabled bool) {
	tb.Helper()
	p.tp.call(tb, "POST", "/proxies/"+p.Name, map[string]any{"enabled": enabled})
}

func (t *Toxiproxy) call(tb testing.TB, method, path string, body any) {
	tb.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			tb.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, t.API+path, &buf)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("toxiproxy %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		tb.Fatal(fmt.Sprintf("toxiproxy %s %s: %s: %s", method, path, resp.Status, msg.String()))
	}
}
