// Package etcdtest starts real embedded etcd members for tests.
package etcdtest

import (
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Start runs an embedded etcd on dir, on free loopback ports, until the test
// ends (the test may close it sooner), and returns it with a client.
func Start(tb testing.TB, dir string) (*embed.Etcd, *clientv3.Client) {
	tb.Helper()
	return StartWith(tb, dir, nil)
}

// StartWith is Start with configure applied to the config last.
func StartWith(tb testing.TB, dir string, configure func(*embed.Config)) (*embed.Etcd, *clientv3.Client) {
	tb.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.ListenMetricsUrls = nil
	// Tests need the files etcd writes, not their durability.
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "http", Host: FreeAddr(tb)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if configure != nil {
		configure(cfg)
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { Stop(e) })
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		tb.Fatal("etcd did not become ready")
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"http://" + e.Clients[0].Addr().String()},
		Logger:    zap.NewNop(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return e, c
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Stop closes e unless it was closed already.
func Stop(e *embed.Etcd) {
	select {
	case <-e.Server.StopNotify():
	default:
		e.Close()
	}
}
