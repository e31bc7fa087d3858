package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"etcdbrctl/supervisor"
)

// apiFlags configure the HTTP API shared by run and server.
type apiFlags struct {
	ServerPort      int    `help:"Port of the HTTP API (/healthz, /metrics, /snapshot/..., /initialization/...); 0 turns it off." default:"8080"`
	ServerCert      string `help:"Serve the API over HTTPS with this certificate (PEM); needs --server-key." type:"existingfile"`
	ServerKey       string `help:"Private key (PEM) of --server-cert." type:"existingfile"`
	ServerClientCA  string `name:"server-client-ca" help:"Require a client certificate signed by this CA (PEM) on every endpoint but /healthz; needs --server-cert." type:"existingfile"`
	APITokenFile    string `name:"api-token-file" help:"File holding a bearer token that state-changing requests (POST /snapshot/..., /initialization/start) must send as \"Authorization: Bearer <token>\"; read again when it changes." type:"existingfile"`
	AllowGetActions bool   `help:"Let state-changing endpoints answer GET as well as POST, for old scripts."`
	EnableProfiling bool   `help:"Serve Go's profiler under /debug/pprof/."`
}

// listen checks the flags and binds the API's port, so that a port in use
// fails before anything else starts. A nil listener means the API is off.
func (f apiFlags) listen() (net.Listener, supervisor.APIOptions, error) {
	opts := supervisor.APIOptions{
		TokenFile:          f.APITokenFile,
		AllowGetActions:    f.AllowGetActions,
		EnableProfiling:    f.EnableProfiling,
		ClientCertRequired: f.ServerClientCA != "",
	}
	if f.ServerPort < 0 || f.ServerPort > 65535 {
		return nil, opts, usagef("--server-port %d is not a port", f.ServerPort)
	}
	if f.APITokenFile != "" {
		if _, err := supervisor.ReadTokenFile(f.APITokenFile); err != nil {
			return nil, opts, usagef("--api-token-file: %v", err)
		}
	}
	tlsConfig, err := f.tlsConfig()
	if err != nil {
		return nil, opts, err
	}
	if f.ServerPort == 0 {
		return nil, opts, nil
	}
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", f.ServerPort))
	if err != nil {
		return nil, opts, usagef("--server-port %d: %v", f.ServerPort, err)
	}
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	return l, opts, nil
}

// tlsConfig is nil for plain HTTP.
func (f apiFlags) tlsConfig() (*tls.Config, error) {
	if (f.ServerCert == "") != (f.ServerKey == "") {
		return nil, usagef("--server-cert and --server-key go together")
	}
	if f.ServerCert == "" {
		if f.ServerClientCA != "" {
			return nil, usagef("--server-client-ca needs --server-cert and --server-key (client certificates need HTTPS)")
		}
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	if err != nil {
		return nil, usagef("--server-cert/--server-key: %v", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if f.ServerClientCA != "" {
		pem, err := os.ReadFile(f.ServerClientCA)
		if err != nil {
			return nil, usagef("--server-client-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--server-client-ca %s holds no PEM certificate", f.ServerClientCA)
		}
		// A certificate that is given must verify; whether one is needed is
		// the API's decision, so that probes of /healthz need none.
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}
