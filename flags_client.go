package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// clientFlags say how to reach an etcd that etcdbrctl does not run (the
// snapshot and server commands). Names follow gardener's etcdbrctl.
type clientFlags struct {
	EtcdEndpoints         []string      `help:"Client URLs of the etcd to back up, comma-separated (also --endpoints)." aliases:"endpoints" default:"http://127.0.0.1:2379" sep:","`
	Cacert                string        `name:"cacert" help:"CA bundle (PEM) that etcd's server certificate must chain to; implies TLS." type:"existingfile"`
	Cert                  string        `name:"cert" help:"Client certificate (PEM) to present to etcd; needs --key." type:"existingfile"`
	Key                   string        `name:"key" help:"Private key (PEM) of --cert." type:"existingfile"`
	InsecureSkipTLSVerify bool          `name:"insecure-skip-tls-verify" help:"Accept any server certificate from etcd (for tests only)."`
	InsecureTransport     bool          `help:"Accepted for gardener's scripts: TLS follows the endpoints' scheme (https://); --insecure-transport=false insists on it." default:"true" negatable:""`
	EtcdUsername          string        `help:"etcd user name, when etcd has authentication on; the user needs the root role to take snapshots."`
	EtcdPassword          string        `help:"Password of --etcd-username. A flag's value shows in the process list: prefer --etcd-password-file or the ETCDBR_ETCD_PASSWORD variable."`
	EtcdPasswordFile      string        `help:"File holding the password of --etcd-username (surrounding white space is ignored)." type:"existingfile"`
	EtcdConnectionTimeout time.Duration `help:"How long one attempt to reach etcd may take; attempts repeat until etcd answers." default:"30s"`
}

// clientConfig checks the flags and returns the etcd client settings they
// describe. Errors never include the password.
func (f clientFlags) clientConfig() (clientv3.Config, error) {
	var cfg clientv3.Config
	if len(f.EtcdEndpoints) == 0 {
		return cfg, usagef("--etcd-endpoints: give at least one client URL, such as http://127.0.0.1:2379")
	}
	secure := false
	for _, ep := range f.EtcdEndpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.User != nil {
			return cfg, usagef("--etcd-endpoints: %q is not an etcd client URL (write http://host:port or https://host:port)", ep)
		}
		secure = secure || u.Scheme == "https"
		if u.Scheme == "http" && !f.InsecureTransport {
			return cfg, usagef("--insecure-transport=false: endpoint %s is plain http; write https://", ep)
		}
	}
	if f.EtcdConnectionTimeout <= 0 {
		return cfg, usagef("--etcd-connection-timeout must be positive, not %v", f.EtcdConnectionTimeout)
	}
	password, err := f.password()
	if err != nil {
		return cfg, err
	}
	tlsConfig, err := f.tlsConfig(secure)
	if err != nil {
		return cfg, err
	}
	cfg = clientv3.Config{
		Endpoints:   f.EtcdEndpoints,
		DialTimeout: f.EtcdConnectionTimeout,
		TLS:         tlsConfig,
		Username:    f.EtcdUsername,
		Password:    password,
		Logger:      zap.NewNop(),
	}
	return cfg, nil
}

func (f clientFlags) password() (string, error) {
	switch {
	case f.EtcdPassword != "" && f.EtcdPasswordFile != "":
		return "", usagef("give either --etcd-password or --etcd-password-file, not both")
	case f.EtcdPasswordFile != "":
		b, err := os.ReadFile(f.EtcdPasswordFile)
		if err != nil {
			return "", usagef("--etcd-password-file: %v", err)
		}
		p := strings.TrimSpace(string(b))
		if p == "" {
			return "", usagef("--etcd-password-file %s is empty", f.EtcdPasswordFile)
		}
		if f.EtcdUsername == "" {
			return "", usagef("--etcd-password-file needs --etcd-username")
		}
		return p, nil
	case f.EtcdPassword != "" && f.EtcdUsername == "":
		return "", usagef("--etcd-password needs --etcd-username")
	case f.EtcdUsername != "" && f.EtcdPassword == "":
		return "", usagef("--etcd-username needs a password: --etcd-password-file or the ETCDBR_ETCD_PASSWORD variable")
	}
	return f.EtcdPassword, nil
}

// tlsConfig is nil for plain-text etcd.
func (f clientFlags) tlsConfig(secure bool) (*tls.Config, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, usagef("--cert and --key go together")
	}
	if !secure && f.Cacert == "" && f.Cert == "" && !f.InsecureSkipTLSVerify {
		return nil, nil
	}
	if !secure {
		return nil, usagef("--cacert, --cert, --key and --insecure-skip-tls-verify need https:// --etcd-endpoints")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.InsecureSkipTLSVerify}
	if f.Cacert != "" {
		pem, err := os.ReadFile(f.Cacert)
		if err != nil {
			return nil, usagef("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--cacert %s holds no PEM certificate", f.Cacert)
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, usagef("--cert/--key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// connector returns one attempt to reach etcd: a client, once one of the
// endpoints answered a status request within the connection timeout.
func connector(cfg clientv3.Config) func(ctx context.Context) (*clientv3.Client, error) {
	return func(ctx context.Context) (*clientv3.Client, error) {
		attemptCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
		c := cfg
		c.Context = ctx // the client lives on after this attempt
		client, err := clientv3.New(c)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ep := range cfg.Endpoints {
			if _, err := client.Status(attemptCtx, ep); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", ep, err))
				continue
			}
			return client, nil
		}
		client.Close()
		return nil, errors.Join(errs...)
	}
}
