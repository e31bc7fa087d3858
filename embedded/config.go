package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Default URLs used when neither Options nor the config file set them.
const (
	DefaultListenClientURL = "http://127.0.0.1:2379"
	DefaultListenPeerURL   = "http://127.0.0.1:2380"
)

// Options are the etcd settings etcdbrctl exposes as its own flags.
//
// Precedence, highest first: a non-empty field here, then the value in
// ConfigFile, then the default documented on the field. Derived defaults
// (advertise URLs from listen URLs, InitialCluster from Name) apply only
// when neither the field nor the config file sets the value.
type Options struct {
	// Name is the member name; default "default".
	Name string
	// DataDir is the data directory; default "<name>.etcd", as etcd does.
	DataDir string
	// ListenClientURLs default to DefaultListenClientURL.
	ListenClientURLs []string
	// AdvertiseClientURLs default to the listen client URLs.
	AdvertiseClientURLs []string
	// ListenPeerURLs default to DefaultListenPeerURL.
	ListenPeerURLs []string
	// InitialAdvertisePeerURLs default to the listen peer URLs.
	InitialAdvertisePeerURLs []string
	// InitialCluster defaults to "<name>=<advertise peer URL>" for each
	// advertise peer URL, unless discovery is configured in ConfigFile.
	InitialCluster string
	// InitialClusterToken defaults to "etcd-cluster".
	InitialClusterToken string
	// ConfigFile is a standard etcd YAML config file. Its logging settings
	// are replaced: etcd logs through etcdbrctl's logger.
	ConfigFile string
}

// Config builds and validates an etcd configuration from opts. It keeps
// etcd's own defaults for everything Options does not cover, and does not
// serve metrics unless the config file asks for it.
func Config(opts Options) (*embed.Config, error) {
	cfg := embed.NewConfig()
	if opts.ConfigFile != "" {
		var err error
		if cfg, err = configFromFile(opts.ConfigFile); err != nil {
			return nil, err
		}
	} else {
		cfg.ListenMetricsUrls = nil
	}
	fromFile := func(key string) bool { return cfg.FlagsExplicitlySet[key] }

	if opts.Name != "" {
		cfg.Name = opts.Name
	}
	if opts.DataDir != "" {
		cfg.Dir = opts.DataDir
	}
	if cfg.Dir == "" {
		cfg.Dir = cfg.Name + ".etcd"
	}

	var err error
	if cfg.ListenClientUrls, err = pickURLs("listen-client-urls", opts.ListenClientURLs, fromFile, cfg.ListenClientUrls, DefaultListenClientURL); err != nil {
		return nil, err
	}
	if cfg.AdvertiseClientUrls, err = pickURLs("advertise-client-urls", opts.AdvertiseClientURLs, fromFile, cfg.AdvertiseClientUrls, urlStrings(cfg.ListenClientUrls)...); err != nil {
		return nil, err
	}
	if cfg.ListenPeerUrls, err = pickURLs("listen-peer-urls", opts.ListenPeerURLs, fromFile, cfg.ListenPeerUrls, DefaultListenPeerURL); err != nil {
		return nil, err
	}
	if cfg.AdvertisePeerUrls, err = pickURLs("initial-advertise-peer-urls", opts.InitialAdvertisePeerURLs, fromFile, cfg.AdvertisePeerUrls, urlStrings(cfg.ListenPeerUrls)...); err != nil {
		return nil, err
	}
	if err := checkURLHosts(cfg); err != nil {
		return nil, err
	}

	discovery := cfg.Durl != "" || cfg.DNSCluster != "" || len(cfg.DiscoveryCfg.Endpoints) > 0
	switch {
	case opts.InitialCluster != "":
		cfg.InitialCluster = opts.InitialCluster
	case !fromFile("initial-cluster") && !discovery:
		// Recompute: the value from embed.NewConfig was built from the
		// default name and URLs.
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	}
	if cfg.InitialCluster != "" {
		if _, err := types.NewURLsMap(cfg.InitialCluster); err != nil {
			return nil, fmt.Errorf("initial-cluster %q: %w", cfg.InitialCluster, err)
		}
	}
	if opts.InitialClusterToken != "" {
		cfg.InitialClusterToken = opts.InitialClusterToken
	}

	// Logs go through a zap core that Start installs; until then discard
	// them, and keep etcd from building its own stderr, journal or
	// rotating-file logger (rotation registers a process-wide zap sink).
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{embed.StdErrLogOutput}
	cfg.EnableLogRotation = false
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())

	// embed.NewConfig leaves this 0, which would log every request as slow.
	if cfg.WarningUnaryRequestDuration == 0 {
		cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("etcd configuration: %w", err)
	}
	return cfg, nil
}

// pickURLs applies the precedence: explicit values, then the config file,
// then fallback.
func pickURLs(option string, explicit []string, fromFile func(string) bool, current []url.URL, fallback ...string) ([]url.URL, error) {
	switch {
	case len(explicit) > 0:
		return parseURLs(option, explicit)
	case fromFile(option):
		return current, nil
	default:
		return parseURLs(option, fallback)
	}
}

// parseURLs checks each URL with etcd's own rules, keeping their order.
func parseURLs(option string, values []string) ([]url.URL, error) {
	urls := make([]url.URL, 0, len(values))
	for _, v := range values {
		parsed, err := types.NewURLs([]string{v})
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", option, v, err)
		}
		urls = append(urls, parsed[0])
	}
	return urls, nil
}

func urlStrings(urls []url.URL) []string {
	s := make([]string, len(urls))
	for i := range urls {
		s[i] = urls[i].String()
	}
	return s
}

// checkURLHosts repeats embed's host checks, with errors that name the
// option (embed's bind check does not).
func checkURLHosts(cfg *embed.Config) error {
	for _, c := range []struct {
		option string
		urls   []url.URL
		bind   bool
	}{
		{"listen-client-urls", cfg.ListenClientUrls, true},
		{"listen-peer-urls", cfg.ListenPeerUrls, true},
		{"advertise-client-urls", cfg.AdvertiseClientUrls, false},
		{"initial-advertise-peer-urls", cfg.AdvertisePeerUrls, false},
	} {
		if err := checkHosts(c.option, c.urls, c.bind); err != nil {
			return err
		}
	}
	return nil
}

func checkHosts(option string, urls []url.URL, bind bool) error {
	for _, u := range urls {
		if err := checkHost(u, bind); err != nil {
			return fmt.Errorf("%s %q: %w", option, u.String(), err)
		}
	}
	return nil
}

var (
	errEmptyHost   = errors.New("host is empty")
	errBindNeedsIP = errors.New("host must be an IP address or localhost to listen on")
)

func checkHost(u url.URL, bind bool) error {
	if u.Scheme == "unix" || u.Scheme == "unixs" {
		return nil
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return err
	}
	switch {
	case host == "":
		return errEmptyHost
	case bind && host != "localhost" && net.ParseIP(host) == nil:
		return errBindNeedsIP
	}
	return nil
}
