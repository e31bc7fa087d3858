package testserver

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SwiftServer is an OpenStack Swift cluster of one node started for a test:
// proxy, account, container and object servers from Debian's packages, with
// memcached, all on loopback ports of their own and with their data and
// configuration in a temporary directory. Swift services the packages may
// have started are left alone.
//
// The proxy authenticates with tempauth (v1 auth): the account is "test";
// User (test:tester) is its admin and may do anything in it, ReadOnlyUser
// (test:reader) has no rights on any container. Large objects can be written
// as static (SLO) or dynamic (DLO) manifests.
type SwiftServer struct {
	// AuthURL is the v1 auth endpoint: http://127.0.0.1:PORT/auth/v1.0.
	AuthURL string
	// URL is the proxy's root: http://127.0.0.1:PORT.
	URL string
	// StorageURL is the account's endpoint: URL + "/v1/AUTH_test".
	StorageURL string
	User, Key  string
	// ReadOnlyUser and ReadOnlyKey name a user of the account without
	// access to its containers, for permission errors.
	ReadOnlyUser, ReadOnlyKey string
}

// StartSwift starts a Swift cluster and waits until its proxy hands out
// tokens. Everything stops when tb ends. It takes a few seconds, so a test
// package should start one and share it between its tests.
func StartSwift(tb testing.TB) SwiftServer {
	tb.Helper()
	bins := map[string]string{}
	for _, name := range []string{"swift-ring-builder", "swift-proxy-server", "swift-account-server",
		"swift-container-server", "swift-object-server", "memcached"} {
		p, err := exec.LookPath(name)
		if err != nil {
			Unavailable(tb, "%s is not installed (Debian packages swift, swift-proxy, swift-account, swift-container, swift-object, memcached; run scripts/test-tools.sh)", name)
		}
		bins[name] = p
	}
	dir := tb.TempDir()
	devices := filepath.Join(dir, "devices")
	if err := os.MkdirAll(filepath.Join(devices, "d1"), 0o700); err != nil {
		tb.Fatal(err)
	}
	// Swift switches to the configured user; tests may not run as root.
	runAs := "root"
	if u, err := user.Current(); err == nil {
		runAs = u.Username
	}
	ports := map[string]int{}
	for _, name := range []string{"proxy", "account", "container", "object", "memcached"} {
		ports[name] = FreePort(tb)
	}
	if err := buildRings(bins["swift-ring-builder"], dir, ports); err != nil {
		Unavailable(tb, "swift rings: %v", err)
	}
	writeFile(tb, filepath.Join(dir, "swift.conf"), swiftConf)
	for _, name := range []string{"account", "container", "object"} {
		writeFile(tb, filepath.Join(dir, name+"-server.conf"), fmt.Sprintf(storageServerConf, ports[name], dir, devices, name, runAs))
	}
	writeFile(tb, filepath.Join(dir, "proxy-server.conf"), fmt.Sprintf(proxyServerConf, ports["proxy"], dir, ports["memcached"], runAs))

	mc := Start(tb, "memcached", exec.Command(bins["memcached"], "-l", "127.0.0.1",
		"-p", strconv.Itoa(ports["memcached"]), "-U", "0", "-u", runAs, "-m", "64"))
	mc.WaitTCP(tb, "127.0.0.1:"+strconv.Itoa(ports["memcached"]), 10*time.Second)
	var procs []*Proc
	for _, name := range []string{"account", "container", "object", "proxy"} {
		conf := filepath.Join(dir, name+"-server.conf")
		// -v: log to the console (the log file) instead of syslog.
		procs = append(procs, Start(tb, "swift-"+name, exec.Command(bins["swift-"+name+"-server"], conf, "-v")))
	}
	for i, name := range []string{"account", "container", "object"} {
		procs[i].WaitTCP(tb, "127.0.0.1:"+strconv.Itoa(ports[name]), 30*time.Second)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(ports["proxy"])
	s := SwiftServer{
		AuthURL:      base + "/auth/v1.0",
		URL:          base,
		StorageURL:   base + "/v1/AUTH_test",
		User:         "test:tester",
		Key:          "testing",
		ReadOnlyUser: "test:reader",
		ReadOnlyKey:  "reading",
	}
	procs[3].WaitReady(tb, 30*time.Second, func() error { return s.checkAuth() })
	return s
}

// checkAuth asks the proxy for a token, which needs the proxy, memcached
// and, for the account's first use, the account server.
func (s SwiftServer) checkAuth() error {
	client := http.Client{Timeout: 5 * time.Second}
	token, err := s.token(&client)
	if err != nil {
		return err
	}
	// The account is created on its first write; a HEAD proves the
	// account server is reachable through the ring.
	req, err := http.NewRequest(http.MethodHead, s.StorageURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("account HEAD answered %s", resp.Status)
	}
	return nil
}

// buildRings makes a one-device ring for each of account, container and
// object in dir, the three concurrently: each takes a few Python starts.
func buildRings(builder, dir string, ports map[string]int) error {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, name := range []string{"account", "container", "object"} {
		wg.Go(func() {
			file := filepath.Join(dir, name+".builder")
			steps := [][]string{
				{file, "create", "6", "1", "1"},
				{file, "add", fmt.Sprintf("r1z1-127.0.0.1:%d/d1", ports[name]), "1"},
				{file, "rebalance"},
			}
			for _, args := range steps {
				if out, err := exec.Command(builder, args...).CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("swift-ring-builder %v: %v\n%s", args[1:], err, out)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// swiftConf replaces /etc/swift/swift.conf through swift_dir.
const swiftConf = `[swift-hash]
swift_hash_path_suffix = etcdbrctl-test
[storage-policy:0]
name = Policy-0
default = yes
`

// storageServerConf takes the port, the swift_dir, the devices directory, the
// server kind and the user. workers = 0 keeps each server a single process.
const storageServerConf = `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %d
workers = 0
user = %[5]s
swift_dir = %[2]s
devices = %[3]s
mount_check = false
disable_fallocate = true
log_level = WARNING
recon_cache_path = %[2]s

[pipeline:main]
pipeline = %[4]s-server

[app:%[4]s-server]
use = egg:swift#%[4]s
`

// proxyServerConf takes the port, the swift_dir, memcached's port and the user.
const proxyServerConf = `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = %d
workers = 0
user = %[4]s
swift_dir = %[2]s
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test_reader = reading

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:%[3]d

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
`

// token logs in as the admin user through tempauth.
func (s SwiftServer) token(client *http.Client) (string, error) {
	req, err := http.NewRequest(http.MethodGet, s.AuthURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Auth-User", s.User)
	req.Header.Set("X-Auth-Key", s.Key)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	token := resp.Header.Get("X-Auth-Token")
	if resp.StatusCode != http.StatusOK || token == "" {
		return "", fmt.Errorf("auth answered %s", resp.Status)
	}
	return token, nil
}

// CreateContainer creates a container as the admin user.
func (s SwiftServer) CreateContainer(tb testing.TB, name string) {
	tb.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	token, err := s.token(&client)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, s.StorageURL+"/"+name, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("create container %s: %s", name, resp.Status)
	}
}
