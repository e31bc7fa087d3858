package etcdargs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds etcd command lines (arguments separated by NUL) and
// environments (entries separated by NUL). Parse must not panic, and what it
// accepts must describe itself: the flags rendered from a result parse back
// to the same result.
func FuzzParse(f *testing.F) {
	f.Add("--name=a\x00--data-dir\x00/d", "ETCD_INITIAL_CLUSTER_TOKEN=t")
	f.Add("-listen-client-urls\x00http://0.0.0.0:2379\x00-advertise-client-urls=http://h:2379", "")
	f.Add("--client-cert-auth\x00--cert-file=/c", "ETCD_AUTO_TLS=true")
	f.Fuzz(func(t *testing.T, args, env string) {
		// A config file would make Parse read whatever path the input names.
		if strings.Contains(args, "config-file") || strings.Contains(env, "CONFIG_FILE") {
			t.Skip()
		}
		c, err := Parse(split(args), split(env))
		if err != nil {
			return
		}
		if c.DataDir == "" {
			t.Fatalf("no data dir: %+v", c)
		}
		again, err := Parse(render(c), nil)
		if err != nil {
			t.Fatalf("rendered flags %q do not parse: %v", render(c), err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the settings:\n%+v\n%+v", c, again)
		}
	})
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

// render writes c back as etcd flags.
func render(c Config) []string {
	args := []string{
		"--name=" + c.Name,
		"--data-dir=" + c.DataDir,
		"--initial-cluster=" + c.InitialCluster,
		"--initial-cluster-state=" + c.InitialClusterState,
		"--initial-cluster-token=" + c.InitialClusterToken,
		"--cert-file=" + c.ClientTLS.CertFile,
		"--key-file=" + c.ClientTLS.KeyFile,
		"--trusted-ca-file=" + c.ClientTLS.TrustedCAFile,
		fmt.Sprintf("--client-cert-auth=%t", c.ClientTLS.ClientCertAuth),
		fmt.Sprintf("--auto-tls=%t", c.ClientTLS.AutoTLS),
	}
	for flag, urls := range map[string][]string{
		"listen-client-urls":          c.ListenClientURLs,
		"advertise-client-urls":       c.AdvertiseClientURLs,
		"listen-peer-urls":            c.ListenPeerURLs,
		"initial-advertise-peer-urls": c.InitialAdvertisePeerURLs,
	} {
		if len(urls) > 0 {
			args = append(args, "--"+flag+"="+strings.Join(urls, ","))
		}
	}
	return args
}
