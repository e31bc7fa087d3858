package etcdargs

import (
	"fmt"
	"os"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/embed"
	"sigs.k8s.io/yaml"
)

// fileSettings are the keys of etcd's YAML config file that etcdbrctl needs,
// under etcd's names. Other keys are ignored here, as etcd checks them.
type fileSettings struct {
	Name                     *string        `json:"name"`
	DataDir                  *string        `json:"data-dir"`
	ListenClientURLs         string         `json:"listen-client-urls"`
	AdvertiseClientURLs      string         `json:"advertise-client-urls"`
	ListenPeerURLs           string         `json:"listen-peer-urls"`
	InitialAdvertisePeerURLs string         `json:"initial-advertise-peer-urls"`
	InitialCluster           *string        `json:"initial-cluster"`
	InitialClusterState      string         `json:"initial-cluster-state"`
	InitialClusterToken      *string        `json:"initial-cluster-token"`
	Discovery                string         `json:"discovery"`
	DiscoverySRV             string         `json:"discovery-srv"`
	DiscoveryEndpoints       []string       `json:"discovery-endpoints"`
	ClientSecurity           fileSecurity   `json:"client-transport-security"`
	PeerSecurity             map[string]any `json:"peer-transport-security"`
}

type fileSecurity struct {
	CertFile       string `json:"cert-file"`
	KeyFile        string `json:"key-file"`
	TrustedCAFile  string `json:"trusted-ca-file"`
	ClientCertAuth bool   `json:"client-cert-auth"`
	AutoTLS        bool   `json:"auto-tls"`
}

// fromFile reads an etcd config file as etcd 3.6 does: etcd's defaults,
// then the file's values; flags and variables play no part.
func fromFile(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("etcd config file: %w", err)
	}
	c, err := parseFile(raw)
	if err != nil {
		return Config{}, fmt.Errorf("etcd config file %s: %w", path, err)
	}
	c.ConfigFile = path
	return c, nil
}

func parseFile(raw []byte) (Config, error) {
	var s fileSettings
	if err := yaml.Unmarshal(raw, &s); err != nil {
		return Config{}, err
	}
	ec := embed.NewConfig()
	defaultInitialCluster := ec.InitialCluster
	setString(&ec.Name, s.Name)
	setString(&ec.Dir, s.DataDir)
	setString(&ec.InitialCluster, s.InitialCluster)
	setString(&ec.InitialClusterToken, s.InitialClusterToken)
	ec.ClusterState = s.InitialClusterState
	if ec.ClusterState == "" {
		ec.ClusterState = embed.ClusterStateFlagNew
	}
	for _, u := range []struct {
		key, value string
		into       *types.URLs
	}{
		{"listen-peer-urls", s.ListenPeerURLs, (*types.URLs)(&ec.ListenPeerUrls)},
		{"listen-client-urls", s.ListenClientURLs, (*types.URLs)(&ec.ListenClientUrls)},
		{"initial-advertise-peer-urls", s.InitialAdvertisePeerURLs, (*types.URLs)(&ec.AdvertisePeerUrls)},
		{"advertise-client-urls", s.AdvertiseClientURLs, (*types.URLs)(&ec.AdvertiseClientUrls)},
	} {
		if u.value == "" {
			continue
		}
		urls, err := types.NewURLs(strings.Split(u.value, ","))
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", u.key, err)
		}
		*u.into = urls
	}
	if (s.Discovery != "" || s.DiscoverySRV != "" || len(s.DiscoveryEndpoints) > 0) && ec.InitialCluster == defaultInitialCluster {
		ec.InitialCluster = ""
	}
	ec.ClientTLSInfo.CertFile = s.ClientSecurity.CertFile
	ec.ClientTLSInfo.KeyFile = s.ClientSecurity.KeyFile
	ec.ClientTLSInfo.TrustedCAFile = s.ClientSecurity.TrustedCAFile
	ec.ClientTLSInfo.ClientCertAuth = s.ClientSecurity.ClientCertAuth
	ec.ClientAutoTLS = s.ClientSecurity.AutoTLS
	return finish(ec, defaultInitialCluster, ""), nil
}

func setString(dst, src *string) {
	if src != nil {
		*dst = *src
	}
}
