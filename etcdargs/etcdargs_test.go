package etcdargs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// defaults is what etcd 3.6 runs with when given nothing.
func defaults() Config {
	return Config{
		Name:                     "default",
		DataDir:                  "default.etcd",
		ListenClientURLs:         []string{"http://localhost:2379"},
		AdvertiseClientURLs:      []string{"http://localhost:2379"},
		ListenPeerURLs:           []string{"http://localhost:2380"},
		InitialAdvertisePeerURLs: []string{"http://localhost:2380"},
		InitialCluster:           "default=http://localhost:2380",
		InitialClusterState:      "new",
		InitialClusterToken:      "etcd-cluster",
	}
}

// with returns defaults changed by edit.
func with(edit func(c *Config)) Config {
	c := defaults()
	edit(&c)
	return c
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	configFile := filepath.Join(dir, "etcd.yaml")
	if err := os.WriteFile(configFile, []byte(`
name: infra1
data-dir: /var/lib/etcd/infra1
listen-client-urls: https://10.0.0.1:2379,https://127.0.0.1:2379
advertise-client-urls: https://10.0.0.1:2379
listen-peer-urls: https://10.0.0.1:2380
initial-advertise-peer-urls: https://10.0.0.1:2380
initial-cluster: infra0=https://10.0.0.0:2380,infra1=https://10.0.0.1:2380
initial-cluster-state: existing
initial-cluster-token: prod
snapshot-count: 10000
client-transport-security:
  cert-file: /pki/server.crt
  key-file: /pki/server.key
  trusted-ca-file: /pki/ca.crt
  client-cert-auth: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := Config{
		Name:                     "infra1",
		DataDir:                  "/var/lib/etcd/infra1",
		ListenClientURLs:         []string{"https://10.0.0.1:2379", "https://127.0.0.1:2379"},
		AdvertiseClientURLs:      []string{"https://10.0.0.1:2379"},
		ListenPeerURLs:           []string{"https://10.0.0.1:2380"},
		InitialAdvertisePeerURLs: []string{"https://10.0.0.1:2380"},
		InitialCluster:           "infra0=https://10.0.0.0:2380,infra1=https://10.0.0.1:2380",
		InitialClusterState:      "existing",
		InitialClusterToken:      "prod",
		ClientTLS:                TLS{CertFile: "/pki/server.crt", KeyFile: "/pki/server.key", TrustedCAFile: "/pki/ca.crt", ClientCertAuth: true},
		ConfigFile:               configFile,
	}
	minimalFile := filepath.Join(dir, "minimal.yaml")
	if err := os.WriteFile(minimalFile, []byte("name: solo\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A member of a three-node cluster as kubeadm writes it.
	kubeadm := strings.Fields(`--advertise-client-urls=https://10.0.0.1:2379 --cert-file=/etc/kubernetes/pki/etcd/server.crt
		--client-cert-auth=true --data-dir=/var/lib/etcd --experimental-initial-corrupt-check=true
		--experimental-watch-progress-notify-interval=5s --initial-advertise-peer-urls=https://10.0.0.1:2380
		--initial-cluster=cp1=https://10.0.0.1:2380 --key-file=/etc/kubernetes/pki/etcd/server.key
		--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.1:2379 --listen-metrics-urls=http://127.0.0.1:2381
		--listen-peer-urls=https://10.0.0.1:2380 --name=cp1 --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt
		--peer-client-cert-auth=true --peer-key-file=/etc/kubernetes/pki/etcd/peer.key
		--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt --snapshot-count=10000
		--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt`)
	kubeadmWant := Config{
		Name:    "cp1",
		DataDir: "/var/lib/etcd",
		// etcd sorts URLs.
		ListenClientURLs:         []string{"https://10.0.0.1:2379", "https://127.0.0.1:2379"},
		AdvertiseClientURLs:      []string{"https://10.0.0.1:2379"},
		ListenPeerURLs:           []string{"https://10.0.0.1:2380"},
		InitialAdvertisePeerURLs: []string{"https://10.0.0.1:2380"},
		InitialCluster:           "cp1=https://10.0.0.1:2380",
		InitialClusterState:      "new",
		InitialClusterToken:      "etcd-cluster",
		ClientTLS: TLS{CertFile: "/etc/kubernetes/pki/etcd/server.crt", KeyFile: "/etc/kubernetes/pki/etcd/server.key",
			TrustedCAFile: "/etc/kubernetes/pki/etcd/ca.crt", ClientCertAuth: true},
	}
	member := func(c *Config) {
		c.Name = "infra0"
		c.DataDir = "/data"
		c.InitialCluster = "infra0=http://localhost:2380"
		c.ListenClientURLs = []string{"http://0.0.0.0:2379"}
		c.AdvertiseClientURLs = []string{"http://10.0.0.5:2379"}
	}

	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		want    Config
		wantErr string
	}{
		{name: "nothing: etcd's defaults", want: defaults()},
		{name: "--flag=value", want: with(member),
			args: []string{"--name=infra0", "--data-dir=/data", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://10.0.0.5:2379"}},
		{name: "--flag value", want: with(member),
			args: []string{"--name", "infra0", "--data-dir", "/data", "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://10.0.0.5:2379"}},
		{name: "single dash", want: with(member),
			args: []string{"-name", "infra0", "-data-dir=/data", "-listen-client-urls", "http://0.0.0.0:2379", "-advertise-client-urls=http://10.0.0.5:2379"}},
		{name: "ETCD_* variables", want: with(member),
			env: []string{"PATH=/bin", "ETCD_NAME=infra0", "ETCD_DATA_DIR=/data", "ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379", "ETCD_ADVERTISE_CLIENT_URLS=http://10.0.0.5:2379"}},
		{name: "flags and variables together", want: with(member),
			args: []string{"--name", "infra0", "--listen-client-urls=http://0.0.0.0:2379"},
			env:  []string{"ETCD_DATA_DIR=/data", "ETCD_ADVERTISE_CLIENT_URLS=http://10.0.0.5:2379"}},
		{name: "an empty variable is unset", want: defaults(), env: []string{"ETCD_NAME="}},
		{name: "a flag shadowing a variable is refused, as etcd does",
			args: []string{"--name=a"}, env: []string{"ETCD_NAME=b"}, wantErr: "ETCD_NAME conflicts with the flag --name"},
		{name: "ETCD_VERSION is never read", want: defaults(), env: []string{"ETCD_VERSION=true"}},
		{name: "name alone names the data dir and the initial cluster",
			args: []string{"--name", "infra2"}, want: with(func(c *Config) {
				c.Name, c.DataDir, c.InitialCluster = "infra2", "infra2.etcd", "infra2=http://localhost:2380"
			})},
		{name: "name and peer URLs make the initial cluster",
			args: []string{"--name=n1", "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.0.2:2380"}, want: with(func(c *Config) {
				c.Name, c.DataDir = "n1", "n1.etcd"
				c.InitialAdvertisePeerURLs = []string{"http://10.0.0.1:2380", "http://10.0.0.2:2380"}
				c.InitialCluster = "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380"
			})},
		{name: "cluster settings",
			args: []string{"--initial-cluster", "a=http://h1:2380,b=http://h2:2380", "--initial-cluster-state", "existing",
				"--initial-cluster-token=tok", "--listen-peer-urls=http://0.0.0.0:2380"},
			want: with(func(c *Config) {
				c.InitialCluster, c.InitialClusterState, c.InitialClusterToken = "a=http://h1:2380,b=http://h2:2380", "existing", "tok"
				c.ListenPeerURLs = []string{"http://0.0.0.0:2380"}
			})},
		{name: "a bare boolean before another flag",
			args: []string{"--client-cert-auth", "--cert-file", "/c.crt", "--key-file=/c.key", "--trusted-ca-file", "/ca.crt"},
			want: with(func(c *Config) {
				c.ClientTLS = TLS{CertFile: "/c.crt", KeyFile: "/c.key", TrustedCAFile: "/ca.crt", ClientCertAuth: true}
			})},
		{name: "auto TLS from a variable", env: []string{"ETCD_AUTO_TLS=true"},
			want: with(func(c *Config) { c.ClientTLS.AutoTLS = true })},
		{name: "a boolean takes no separate value", args: []string{"--client-cert-auth", "false"}, wantErr: `"false" is not a valid flag`},
		{name: "duplicate listen URLs collapse", args: []string{"--listen-client-urls=http://127.0.0.1:2379,http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379"},
			want: with(func(c *Config) {
				c.ListenClientURLs, c.AdvertiseClientURLs = []string{"http://127.0.0.1:2379"}, []string{"http://127.0.0.1:2379"}
			})},
		{name: "kubeadm's command line", args: kubeadm, want: kubeadmWant},
		{name: "config file", args: []string{"--config-file", configFile}, want: fromFile},
		{name: "config file: other flags and variables are ignored",
			args: []string{"--name=ignored", "--config-file=" + configFile, "--data-dir", "/ignored"},
			env:  []string{"ETCD_INITIAL_CLUSTER_TOKEN=ignored"}, want: fromFile},
		{name: "config file from ETCD_CONFIG_FILE", env: []string{"ETCD_CONFIG_FILE=" + configFile, "ETCD_NAME=ignored"}, want: fromFile},
		{name: "config file: etcd's defaults fill the rest", args: []string{"-config-file", minimalFile},
			want: with(func(c *Config) {
				c.Name, c.DataDir, c.InitialCluster, c.ConfigFile = "solo", "solo.etcd", "solo=http://localhost:2380", minimalFile
			})},
		{name: "config file missing", args: []string{"--config-file", filepath.Join(dir, "nope.yaml")}, wantErr: "no such file"},
		{name: "unknown flag", args: []string{"--nmae=x"}, wantErr: "flag provided but not defined: -nmae"},
		{name: "positional argument", args: []string{"--name", "a", "serve"}, wantErr: `"serve" is not a valid flag`},
		{name: "bad URL", args: []string{"--listen-peer-urls", "10.0.0.1:2380"}, wantErr: "listen-peer-urls"},
		{name: "bad cluster state", args: []string{"--initial-cluster-state=old"}, wantErr: "initial-cluster-state"},
		{name: "bad variable", env: []string{"ETCD_LISTEN_PEER_URLS=nope"}, wantErr: "ETCD_LISTEN_PEER_URLS"},
		{name: "listen client URLs need advertise ones", args: []string{"--listen-client-urls=http://0.0.0.0:2379"}, wantErr: "--advertise-client-urls is required"},
		{name: "discovery clears the default initial cluster", args: []string{"--discovery-srv=example.com", "--name=x"},
			want: with(func(c *Config) { c.Name, c.DataDir, c.InitialCluster = "x", "x.etcd", "" })},
		{name: "an explicit initial cluster stays with discovery", args: []string{"--discovery-srv=example.com", "--initial-cluster=default=http://localhost:2380"},
			want: defaults()},
		{name: "old ignored flags still parse", args: []string{"--force", "-v", "--name=x"},
			want: with(func(c *Config) { c.Name, c.DataDir, c.InitialCluster = "x", "x.etcd", "x=http://localhost:2380" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseNotServing(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-h"}, {"--help"}} {
		if _, err := Parse(args, nil); !errors.Is(err, ErrNotServing) {
			t.Errorf("%v: err = %v, want ErrNotServing", args, err)
		}
	}
}
