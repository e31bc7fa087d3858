// Package etcdargs learns an etcd member's settings from the command line,
// ETCD_* variables and config file that etcd itself would read, so that
// etcdbrctl can supervise `etcd ARGS` without changing them.
//
// It reads flags through etcd's own flag definitions, so every flag etcd
// accepts (and only those) parses, in every form Go's flag package allows:
// --flag=value, --flag value, -flag=value, -flag value, and bare booleans.
package etcdargs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	"go.etcd.io/etcd/pkg/v3/flags"
	cconfig "go.etcd.io/etcd/server/v3/config"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
)

// Config is what etcd would run with, as far as etcdbrctl needs to know.
type Config struct {
	Name                     string
	DataDir                  string // never empty: etcd's default is "<name>.etcd"
	ListenClientURLs         []string
	AdvertiseClientURLs      []string
	ListenPeerURLs           []string
	InitialAdvertisePeerURLs []string
	InitialCluster           string
	InitialClusterState      string // "new" or "existing"
	InitialClusterToken      string
	ClientTLS                TLS
	// ConfigFile is the YAML file the settings came from; when set, etcd
	// ignores its other flags and the ETCD_* variables.
	ConfigFile string
}

// TLS is etcd's client transport security.
type TLS struct {
	CertFile       string
	KeyFile        string
	TrustedCAFile  string
	ClientCertAuth bool
	AutoTLS        bool
}

// ErrNotServing means the arguments make etcd print something and exit
// (--help, --version) instead of serving.
var ErrNotServing = errors.New("etcd would exit at once instead of serving")

// addFlagsMu serialises embed.Config.AddFlags, which writes rafthttp's
// package-level connection timeouts while it defines its flags.
var addFlagsMu sync.Mutex

// Parse reads etcd's arguments (without the program name) and environment
// (as KEY=VALUE entries, like os.Environ) the way etcd 3.6 does: flags, then
// ETCD_* variables for flags not given (etcd refuses a variable that a flag
// shadows), or, when --config-file or ETCD_CONFIG_FILE names one, only that
// file.
func Parse(args, env []string) (Config, error) {
	p := newParser()
	if err := p.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, fmt.Errorf("%w: it was asked for its help", ErrNotServing)
		}
		return Config{}, fmt.Errorf("etcd arguments: %w", err)
	}
	if p.fs.NArg() != 0 {
		return Config{}, fmt.Errorf("etcd arguments: %q is not a valid flag", p.fs.Arg(0))
	}
	if p.version {
		return Config{}, fmt.Errorf("%w: --version prints the version", ErrNotServing)
	}
	vars := environ(env)
	if p.configFile == "" {
		p.configFile = vars["ETCD_CONFIG_FILE"]
	}
	if p.configFile != "" {
		return fromFile(p.configFile)
	}
	if err := p.applyEnv(vars); err != nil {
		return Config{}, err
	}
	return p.config()
}

// parser holds etcd's flag set and the values it parses into.
type parser struct {
	fs           *flag.FlagSet
	ec           *embed.Config
	clusterState *flags.SelectiveStringValue
	// defaultInitialCluster is etcd's default, before any flag: etcd derives
	// the initial cluster from --name only while it is unchanged.
	defaultInitialCluster string
	configFile            string
	version               bool
}

// newParser defines the flags etcdmain defines. etcd's own definitions are
// copied into a set of our own, except the two rafthttp timeouts, which
// would write package-level variables when set.
func newParser() *parser {
	p := &parser{ec: embed.NewConfig()}
	p.defaultInitialCluster = p.ec.InitialCluster
	etcdFlags := flag.NewFlagSet("etcd", flag.ContinueOnError)
	addFlagsMu.Lock()
	p.ec.AddFlags(etcdFlags)
	addFlagsMu.Unlock()

	p.fs = flag.NewFlagSet("etcd", flag.ContinueOnError)
	p.fs.SetOutput(io.Discard)
	etcdFlags.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "raft-read-timeout":
			p.fs.Duration(f.Name, rafthttp.DefaultConnReadTimeout, f.Usage)
		case "raft-write-timeout":
			p.fs.Duration(f.Name, rafthttp.DefaultConnWriteTimeout, f.Usage)
		default:
			p.fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	p.fs.StringVar(&p.configFile, "config-file", "", "")
	p.fs.Var(flags.NewSelectiveStringValue("exit", "proxy"), "discovery-fallback", "")
	p.clusterState = flags.NewSelectiveStringValue(embed.ClusterStateFlagNew, embed.ClusterStateFlagExisting)
	p.fs.Var(p.clusterState, "initial-cluster-state", "")
	p.fs.Var(flags.NewSelectiveStringsValue(string(cconfig.V2Depr1WriteOnly),
		string(cconfig.V2Depr1WriteOnlySkipCheck), string(cconfig.V2Depr1WriteOnlyDrop), string(cconfig.V2Depr2Gone)), "v2-deprecation", "")
	p.fs.BoolVar(&p.version, "version", false, "")
	for _, name := range ignoredFlags {
		p.fs.Var(&flags.IgnoredFlag{Name: name}, name, "")
	}
	return p
}

// ignoredFlags are old flags etcd still accepts (as booleans) and ignores.
var ignoredFlags = []string{
	"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval",
	"config", "force", "max-result-buffer", "max-retry-attempts",
	"peer-heartbeat-interval", "peer-election-timeout", "retry-interval",
	"snapshot", "v", "vv", "test.coverprofile", "test.outputdir",
}

// applyEnv sets each flag not given on the command line from its ETCD_*
// variable. Like etcd, it refuses a variable whose flag was given too, and
// ignores ETCD_VERSION.
func (p *parser) applyEnv(vars map[string]string) error {
	given := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	p.fs.VisitAll(func(f *flag.Flag) {
		key := flags.FlagToEnv("ETCD", f.Name)
		val, ok := vars[key]
		switch {
		case err != nil || !ok || key == "ETCD_VERSION":
		case given[f.Name]:
			err = fmt.Errorf("environment variable %s conflicts with the flag --%s; etcd refuses to start with both, unset one", key, f.Name)
		case val != "":
			if serr := p.fs.Set(f.Name, val); serr != nil {
				err = fmt.Errorf("invalid value %q for %s: %w", val, key, serr)
			}
		}
	})
	return err
}

// config turns the parsed flags into a Config, with etcdmain's rules for
// values that depend on others.
func (p *parser) config() (Config, error) {
	ec := p.ec
	ec.ListenPeerUrls = flags.UniqueURLsFromFlag(p.fs, "listen-peer-urls")
	ec.AdvertisePeerUrls = flags.UniqueURLsFromFlag(p.fs, "initial-advertise-peer-urls")
	ec.ListenClientUrls = flags.UniqueURLsFromFlag(p.fs, "listen-client-urls")
	ec.AdvertiseClientUrls = flags.UniqueURLsFromFlag(p.fs, "advertise-client-urls")
	discovery := flags.UniqueStringsFromFlag(p.fs, "discovery-endpoints")
	ec.ClusterState = p.clusterState.String()

	if flags.IsSet(p.fs, "listen-client-urls") && !flags.IsSet(p.fs, "advertise-client-urls") {
		return Config{}, fmt.Errorf("etcd arguments: %w", embed.ErrUnsetAdvertiseClientURLsFlag)
	}
	if (ec.Durl != "" || ec.DNSCluster != "" || ec.DNSClusterServiceName != "" || len(discovery) > 0) &&
		!flags.IsSet(p.fs, "initial-cluster") {
		ec.InitialCluster = ""
	}
	return finish(ec, p.defaultInitialCluster, ""), nil
}

// finish applies the defaults etcd fills in at start and copies the settings out.
func finish(ec *embed.Config, defaultInitialCluster, configFile string) Config {
	if ec.Name != embed.DefaultName && ec.InitialCluster == defaultInitialCluster {
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	}
	c := Config{
		Name:                     ec.Name,
		DataDir:                  ec.Dir,
		ListenClientURLs:         urlStrings(ec.ListenClientUrls),
		AdvertiseClientURLs:      urlStrings(ec.AdvertiseClientUrls),
		ListenPeerURLs:           urlStrings(ec.ListenPeerUrls),
		InitialAdvertisePeerURLs: urlStrings(ec.AdvertisePeerUrls),
		InitialCluster:           ec.InitialCluster,
		InitialClusterState:      ec.ClusterState,
		InitialClusterToken:      ec.InitialClusterToken,
		ClientTLS: TLS{
			CertFile:       ec.ClientTLSInfo.CertFile,
			KeyFile:        ec.ClientTLSInfo.KeyFile,
			TrustedCAFile:  ec.ClientTLSInfo.TrustedCAFile,
			ClientCertAuth: ec.ClientTLSInfo.ClientCertAuth,
			AutoTLS:        ec.ClientAutoTLS,
		},
		ConfigFile: configFile,
	}
	if c.DataDir == "" {
		c.DataDir = c.Name + ".etcd"
	}
	return c
}

func urlStrings(us []url.URL) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.String())
	}
	return out
}

// environ indexes KEY=VALUE entries; a later entry wins, as in os.Getenv.
func environ(env []string) map[string]string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return vars
}
