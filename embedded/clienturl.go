package embedded

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"

	"go.etcd.io/etcd/server/v3/embed"
)

var errNoClientListener = errors.New("etcd has no client listener serving gRPC")

// clientURL picks a bound TCP client listener that serves gRPC (the listen
// client URLs, not the HTTP-only ones) and turns its address into a URL.
// The listen URL with the same port, or else one with port 0, gives the
// scheme. Without one, a unix socket URL is dialable as configured.
func clientURL(e *embed.Etcd) (string, error) {
	cfg := e.Config()
	for _, l := range e.Clients {
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			continue
		}
		port := strconv.Itoa(addr.Port)
		if slices.ContainsFunc(cfg.ListenClientHttpUrls, func(u url.URL) bool { return u.Port() == port }) {
			continue
		}
		scheme := ""
		for _, want := range []string{port, "0"} {
			i := slices.IndexFunc(cfg.ListenClientUrls, func(u url.URL) bool { return u.Port() == want })
			if i >= 0 {
				scheme = cfg.ListenClientUrls[i].Scheme
				break
			}
		}
		if scheme == "" {
			continue
		}
		return (&url.URL{Scheme: scheme, Host: dialHostPort(addr)}).String(), nil
	}
	for _, u := range cfg.ListenClientUrls {
		if u.Scheme == "unix" || u.Scheme == "unixs" {
			return u.String(), nil
		}
	}
	return "", errNoClientListener
}

// dialHostPort replaces a wildcard address, which cannot be dialled
// everywhere, with the loopback address.
func dialHostPort(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP == nil || addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(addr.Port))
}
