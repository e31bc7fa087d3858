package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/internal/testcert"
)

func TestClientFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "etcd-ca")
	pair := ca.Client(t, "backup")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("hunter2-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := clientFlags{EtcdEndpoints: []string{"http://127.0.0.1:2379"}, EtcdConnectionTimeout: time.Second, InsecureTransport: true}
	with := func(edit func(*clientFlags)) clientFlags {
		f := base
		edit(&f)
		return f
	}
	for _, tc := range []struct {
		name     string
		flags    clientFlags
		errPiece string
	}{
		{"plain", base, ""},
		{"tls", with(func(f *clientFlags) {
			f.EtcdEndpoints = []string{"https://127.0.0.1:2379"}
			f.Cacert, f.Cert, f.Key = ca.CertFile, pair.CertFile, pair.KeyFile
		}), ""},
		{"password file", with(func(f *clientFlags) { f.EtcdUsername, f.EtcdPasswordFile = "root", pwFile }), ""},
		{"insecure transport off on http", with(func(f *clientFlags) { f.InsecureTransport = false }), "--insecure-transport=false"},
		{"no endpoints", with(func(f *clientFlags) { f.EtcdEndpoints = nil }), "--etcd-endpoints"},
		{"bad endpoint", with(func(f *clientFlags) { f.EtcdEndpoints = []string{"127.0.0.1:2379"} }), "--etcd-endpoints"},
		{"endpoint with path", with(func(f *clientFlags) { f.EtcdEndpoints = []string{"http://h:1/x"} }), "--etcd-endpoints"},
		{"zero timeout", with(func(f *clientFlags) { f.EtcdConnectionTimeout = 0 }), "--etcd-connection-timeout"},
		{"cert without key", with(func(f *clientFlags) {
			f.EtcdEndpoints = []string{"https://127.0.0.1:2379"}
			f.Cert = pair.CertFile
		}), "--cert and --key"},
		{"tls flags on http", with(func(f *clientFlags) { f.Cacert = ca.CertFile }), "https://"},
		{"not a CA", with(func(f *clientFlags) {
			f.EtcdEndpoints = []string{"https://127.0.0.1:2379"}
			f.Cacert = pwFile
		}), "--cacert"},
		{"password without user", with(func(f *clientFlags) { f.EtcdPassword = "hunter2-secret" }), "--etcd-username"},
		{"user without password", with(func(f *clientFlags) { f.EtcdUsername = "root" }), "password"},
		{"both passwords", with(func(f *clientFlags) {
			f.EtcdUsername, f.EtcdPassword, f.EtcdPasswordFile = "root", "hunter2-secret", pwFile
		}), "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.flags.clientConfig()
			if tc.errPiece == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.flags.EtcdPasswordFile != "" && cfg.Password != "hunter2-secret" {
					t.Errorf("password from the file not used")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errPiece) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.errPiece)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error repeats the password: %v", err)
			}
		})
	}
}
