package embedded

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
)

// wantConfig lists the settings Config derives; empty fields are not checked.
type wantConfig struct {
	name, dir                     string
	listenClient, advertiseClient []string
	listenPeer, advertisePeer     []string
	initialCluster, token         string
	metrics                       []string
	snapshotCount                 uint64
}

func checkConfig(t *testing.T, cfg *embed.Config, want wantConfig) {
	t.Helper()
	check := func(what string, got, want any) {
		t.Helper()
		switch w := want.(type) {
		case string:
			if w == "" {
				return
			}
		case []string:
			if w == nil {
				return
			}
		}
		if !equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("Name", cfg.Name, want.name)
	check("Dir", cfg.Dir, want.dir)
	check("ListenClientUrls", urlStrings(cfg.ListenClientUrls), want.listenClient)
	check("AdvertiseClientUrls", urlStrings(cfg.AdvertiseClientUrls), want.advertiseClient)
	check("ListenPeerUrls", urlStrings(cfg.ListenPeerUrls), want.listenPeer)
	check("AdvertisePeerUrls", urlStrings(cfg.AdvertisePeerUrls), want.advertisePeer)
	check("InitialCluster", cfg.InitialCluster, want.initialCluster)
	check("InitialClusterToken", cfg.InitialClusterToken, want.token)
	if got := urlStrings(cfg.ListenMetricsUrls); !slices.Equal(got, want.metrics) && !(len(got) == 0 && len(want.metrics) == 0) {
		t.Errorf("ListenMetricsUrls = %v, want %v", got, want.metrics)
	}
	if want.snapshotCount != 0 && cfg.SnapshotCount != want.snapshotCount {
		t.Errorf("SnapshotCount = %d, want %d", cfg.SnapshotCount, want.snapshotCount)
	}
}

func equal(got, want any) bool {
	switch w := want.(type) {
	case []string:
		return slices.Equal(got.([]string), w)
	default:
		return got == want
	}
}

func TestConfig(t *testing.T) {
	etcdDefaults := embed.NewConfig()
	tests := []struct {
		name string
		opts Options
		want wantConfig
	}{
		{
			name: "defaults",
			opts: Options{},
			want: wantConfig{
				name:            "default",
				dir:             "default.etcd",
				listenClient:    []string{"http://127.0.0.1:2379"},
				advertiseClient: []string{"http://127.0.0.1:2379"},
				listenPeer:      []string{"http://127.0.0.1:2380"},
				advertisePeer:   []string{"http://127.0.0.1:2380"},
				initialCluster:  "default=http://127.0.0.1:2380",
				token:           "etcd-cluster",
				snapshotCount:   etcdDefaults.SnapshotCount,
			},
		},
		{
			name: "name drives data dir and initial cluster",
			opts: Options{Name: "node-1"},
			want: wantConfig{
				name:           "node-1",
				dir:            "node-1.etcd",
				initialCluster: "node-1=http://127.0.0.1:2380",
			},
		},
		{
			name: "advertise URLs follow listen URLs",
			opts: Options{
				Name:             "n",
				ListenClientURLs: []string{"http://127.0.0.1:12379", "http://127.0.0.1:22379"},
				ListenPeerURLs:   []string{"http://127.0.0.1:12380"},
			},
			want: wantConfig{
				listenClient:    []string{"http://127.0.0.1:12379", "http://127.0.0.1:22379"},
				advertiseClient: []string{"http://127.0.0.1:12379", "http://127.0.0.1:22379"},
				listenPeer:      []string{"http://127.0.0.1:12380"},
				advertisePeer:   []string{"http://127.0.0.1:12380"},
				initialCluster:  "n=http://127.0.0.1:12380",
			},
		},
		{
			name: "explicit values",
			opts: Options{
				Name:                     "a",
				DataDir:                  "/var/lib/etcd",
				ListenClientURLs:         []string{"http://0.0.0.0:2379"},
				AdvertiseClientURLs:      []string{"http://etcd-a.example:2379"},
				ListenPeerURLs:           []string{"http://0.0.0.0:2380"},
				InitialAdvertisePeerURLs: []string{"http://etcd-a.example:2380"},
				InitialCluster:           "a=http://etcd-a.example:2380,b=http://etcd-b.example:2380",
				InitialClusterToken:      "tok",
			},
			want: wantConfig{
				name:            "a",
				dir:             "/var/lib/etcd",
				listenClient:    []string{"http://0.0.0.0:2379"},
				advertiseClient: []string{"http://etcd-a.example:2379"},
				listenPeer:      []string{"http://0.0.0.0:2380"},
				advertisePeer:   []string{"http://etcd-a.example:2380"},
				initialCluster:  "a=http://etcd-a.example:2380,b=http://etcd-b.example:2380",
				token:           "tok",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(tt.opts)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			checkConfig(t, cfg, tt.want)
			if cfg.UnsafeNoFsync {
				t.Error("UnsafeNoFsync is set; Config must keep etcd's safety settings")
			}
		})
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantInErr string
	}{
		{"listen client URL without scheme", Options{ListenClientURLs: []string{"127.0.0.1:2379"}}, "listen-client-urls"},
		{"listen client URL with bad scheme", Options{ListenClientURLs: []string{"ftp://127.0.0.1:2379"}}, "listen-client-urls"},
		{"listen client URL with host name", Options{ListenClientURLs: []string{"http://etcd.example:2379"}}, "listen-client-urls"},
		{"advertise client URL without port", Options{AdvertiseClientURLs: []string{"http://10.0.0.1"}}, "advertise-client-urls"},
		{"advertise client URL without host", Options{AdvertiseClientURLs: []string{"http://:2379"}}, "advertise-client-urls"},
		{"listen peer URL with path", Options{ListenPeerURLs: []string{"http://127.0.0.1:2380/x"}}, "listen-peer-urls"},
		{"advertise peer URL not a URL", Options{InitialAdvertisePeerURLs: []string{"%%"}}, "initial-advertise-peer-urls"},
		{"initial cluster without URL", Options{InitialCluster: "default"}, "initial-cluster"},
		{"missing config file", Options{ConfigFile: filepath.Join(t.TempDir(), "absent.yaml")}, "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Config(tt.opts)
			if err == nil {
				t.Fatal("Config succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not name %q", err, tt.wantInErr)
			}
		})
	}
}

func writeConfigFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "etcd.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFile(t *testing.T) {
	dataDir := t.TempDir()
	file := writeConfigFile(t, `name: from-file
data-dir: `+dataDir+`
listen-client-urls: http://127.0.0.1:23790
listen-peer-urls: http://127.0.0.1:23800
initial-cluster-token: file-token
snapshot-count: 1234
`)
	withMetrics := writeConfigFile(t, `listen-metrics-urls: http://127.0.0.1:23810
`)
	tests := []struct {
		name string
		opts Options
		want wantConfig
	}{
		{
			name: "file values",
			opts: Options{ConfigFile: file},
			want: wantConfig{
				name:            "from-file",
				dir:             dataDir,
				listenClient:    []string{"http://127.0.0.1:23790"},
				advertiseClient: []string{"http://127.0.0.1:23790"},
				listenPeer:      []string{"http://127.0.0.1:23800"},
				advertisePeer:   []string{"http://127.0.0.1:23800"},
				initialCluster:  "from-file=http://127.0.0.1:23800",
				token:           "file-token",
				snapshotCount:   1234,
			},
		},
		{
			name: "explicit options win over the file",
			opts: Options{
				ConfigFile:          file,
				Name:                "from-flag",
				ListenClientURLs:    []string{"http://127.0.0.1:33790"},
				InitialClusterToken: "flag-token",
			},
			want: wantConfig{
				name:            "from-flag",
				dir:             dataDir,
				listenClient:    []string{"http://127.0.0.1:33790"},
				advertiseClient: []string{"http://127.0.0.1:33790"},
				listenPeer:      []string{"http://127.0.0.1:23800"},
				initialCluster:  "from-flag=http://127.0.0.1:23800",
				token:           "flag-token",
				snapshotCount:   1234,
			},
		},
		{
			name: "metrics URLs from the file are kept",
			opts: Options{ConfigFile: withMetrics},
			want: wantConfig{
				listenClient: []string{"http://127.0.0.1:2379"},
				metrics:      []string{"http://127.0.0.1:23810"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config(tt.opts)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			checkConfig(t, cfg, tt.want)
		})
	}
}

func TestConfigFileRejectsBadValues(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantInErr string
	}{
		// embed would call os.Exit for this one.
		{"bad URL", "listen-client-urls: not-a-url\n", "listen-client-urls"},
		{"not YAML", "name: [unclosed\n", "config file"},
		{"wrong type", "snapshot-count: many\n", "config file"},
		{"bad bind host", "listen-peer-urls: http://etcd.example:2380\n", "listen-peer-urls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Config(Options{ConfigFile: writeConfigFile(t, tt.body)})
			if err == nil {
				t.Fatal("Config succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not name %q", err, tt.wantInErr)
			}
		})
	}
}

// The file's log settings must neither create their log file nor survive
// into the returned config: etcd logs through etcdbrctl's logger.
func TestConfigFileLogSettingsReplaced(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "etcd.log")
	cfg, err := Config(Options{ConfigFile: writeConfigFile(t, `log-outputs: [`+logFile+`]
log-level: debug
`)})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if _, err := os.Stat(logFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log file from the config file was created (stat: %v)", err)
	}
	if !slices.Equal(cfg.LogOutputs, []string{embed.StdErrLogOutput}) || cfg.EnableLogRotation {
		t.Errorf("LogOutputs = %v, EnableLogRotation = %v; want etcd's own outputs unused", cfg.LogOutputs, cfg.EnableLogRotation)
	}
	if cfg.ZapLoggerBuilder == nil {
		t.Error("ZapLoggerBuilder is nil; etcd would build its own logger")
	}
}
