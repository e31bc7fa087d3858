package main

import (
	"net"
	"net/url"
	"strings"

	"go.etcd.io/etcd/server/v3/embed"

	"etcdbrctl/backup"
	"etcdbrctl/embedded"
)

// memberFlags are the etcd member settings shared by run and restore; empty
// means etcd's default (or the --etcd-config-file value, for run).
type memberFlags struct {
	Name                     string `help:"Member name (default \"default\")."`
	DataDir                  string `help:"etcd data directory (default \"<name>.etcd\")." type:"path"`
	InitialAdvertisePeerURLs string `name:"initial-advertise-peer-urls" help:"Peer URLs this member advertises, comma-separated (default: the listen peer URLs, http://127.0.0.1:2380)."`
	InitialCluster           string `help:"Initial cluster, name=peerURL,... (default \"<name>=<advertise peer URL>\")."`
	InitialClusterToken      string `help:"Initial cluster token (default \"etcd-cluster\")."`
}

// serveFlags are the settings of an embedded etcd beyond the member ones.
type serveFlags struct {
	ListenClientURLs    string `name:"listen-client-urls" help:"URLs to serve clients on, comma-separated (default http://127.0.0.1:2379)."`
	AdvertiseClientURLs string `name:"advertise-client-urls" help:"Client URLs to advertise, comma-separated (default: the listen client URLs)."`
	ListenPeerURLs      string `name:"listen-peer-urls" help:"URLs to serve peers on, comma-separated (default http://127.0.0.1:2380)."`
	EtcdConfigFile      string `help:"A standard etcd YAML config file; the flags above win where both set a value." type:"existingfile"`
}

func (m memberFlags) options() embedded.Options {
	return embedded.Options{
		Name:                     m.Name,
		DataDir:                  m.DataDir,
		InitialAdvertisePeerURLs: splitList(m.InitialAdvertisePeerURLs),
		InitialCluster:           m.InitialCluster,
		InitialClusterToken:      m.InitialClusterToken,
	}
}

func (s serveFlags) apply(o *embedded.Options) {
	o.ListenClientURLs = splitList(s.ListenClientURLs)
	o.AdvertiseClientURLs = splitList(s.AdvertiseClientURLs)
	o.ListenPeerURLs = splitList(s.ListenPeerURLs)
	o.ConfigFile = s.EtcdConfigFile
}

// member is what a restore needs to know of the etcd it restores for.
func member(cfg *embed.Config) backup.Member {
	m := backup.Member{Name: cfg.Name, InitialCluster: cfg.InitialCluster, InitialClusterToken: cfg.InitialClusterToken}
	for _, u := range cfg.AdvertisePeerUrls {
		m.PeerURLs = append(m.PeerURLs, u.String())
	}
	return m
}

// checkPortsFree fails early, before anything is created, when another
// process holds a port etcd must listen on.
func checkPortsFree(flag string, urls []url.URL) error {
	for _, u := range urls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			continue
		}
		l, err := net.Listen("tcp", u.Host)
		if err != nil {
			return usagef("--%s %s: cannot listen: %v", flag, u.String(), err)
		}
		l.Close()
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
