package swift

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// secret is the password or application credential secret of every case,
// so that each error can be checked for leaking it.
const secret = "s3cret-Value"

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"authURL":    "https://keystone.example:5000/v3\n",
		"domainName": "Default\n",
		"tenantName": "backups\n",
		"username":   "etcd\n",
		"password":   secret + "\n",
		"region":     "eu-1",
		"unrelated":  "ignored",
	})
	appCredDir := t.TempDir()
	writeFiles(t, appCredDir, map[string]string{
		"authURL":                     "https://keystone.example:5000/v3",
		"applicationCredentialID":     "ac-id",
		"applicationCredentialSecret": secret,
	})
	jsonDir := t.TempDir()
	writeFiles(t, jsonDir, map[string]string{
		"good.json":       `{"authURL":"https://keystone.example:5000/v3","domainName":"Default","tenantName":"backups","username":"etcd","password":"` + secret + `","bucketName":"b","region":"eu-2"}`,
		"v1.json":         `{"authURL":"http://127.0.0.1:8080/auth/v1.0","username":"test:tester","password":"` + secret + `"}`,
		"not-object.json": `["` + secret + `"]`,
		"number.json":     `{"authURL":"https://k.example/v3","username":"etcd","password":42}`,
		"broken.json":     `{"authURL":"https://k.example/v3","password":"` + secret,
	})
	keystoneEnv := map[string]string{
		"OS_AUTH_URL":            "https://keystone.example:5000/v3",
		"OS_USERNAME":            "etcd",
		"OS_PASSWORD":            secret,
		"OS_USER_DOMAIN_NAME":    "users",
		"OS_PROJECT_DOMAIN_NAME": "projects",
		"OS_PROJECT_NAME":        "backups",
		"OS_REGION_NAME":         "eu-3",
	}
	with := func(base map[string]string, changes map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}

	tests := []struct {
		name      string
		env       map[string]string
		want      credentials // compared without source
		fromFiles bool
		wantErr   string // part of the error; empty for success
	}{
		{
			name: "keystone from the environment",
			env:  keystoneEnv,
			want: credentials{AuthURL: "https://keystone.example:5000/v3", Region: "eu-3", Username: "etcd", Password: secret,
				UserDomainName: "users", ProjectDomainName: "projects", ProjectName: "backups"},
		},
		{
			name: "OS_PROJECT_NAME wins over OS_TENANT_NAME",
			env:  with(keystoneEnv, map[string]string{"OS_TENANT_NAME": "old"}),
			want: credentials{AuthURL: "https://keystone.example:5000/v3", Region: "eu-3", Username: "etcd", Password: secret,
				UserDomainName: "users", ProjectDomainName: "projects", ProjectName: "backups"},
		},
		{
			name: "v1 from the auth URL",
			env:  map[string]string{"OS_AUTH_URL": "http://127.0.0.1:8080/auth/v1.0", "OS_USERNAME": "test:tester", "OS_PASSWORD": secret},
			want: credentials{AuthURL: "http://127.0.0.1:8080/auth/v1.0", Username: "test:tester", Password: secret},
		},
		{
			name:    "v1 asked for, with a URL that is not a v1 one",
			env:     map[string]string{"OS_AUTH_URL": "http://127.0.0.1:8080/auth", "OS_AUTH_VERSION": "1", "OS_USERNAME": "test:tester", "OS_PASSWORD": secret},
			wantErr: "ending in /auth/v1.0",
		},
		{
			name: "application credential from the environment",
			env: map[string]string{"OS_AUTH_URL": "https://k.example/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac-id",
				"OS_APPLICATION_CREDENTIAL_SECRET": secret},
			want: credentials{AuthURL: "https://k.example/v3", AppCredentialID: "ac-id", AppCredentialSecret: secret},
		},
		{
			name:    "application credential without its secret",
			env:     map[string]string{"OS_AUTH_URL": "https://k.example/v3", "OS_APPLICATION_CREDENTIAL_ID": "ac-id", "OS_PASSWORD": secret},
			wantErr: "OS_APPLICATION_CREDENTIAL_SECRET",
		},
		{
			name:    "nothing set",
			env:     map[string]string{},
			wantErr: "OS_AUTH_URL",
		},
		{
			name:    "no password",
			env:     with(keystoneEnv, map[string]string{"OS_PASSWORD": ""}),
			wantErr: "OS_PASSWORD",
		},
		{
			name:    "no user",
			env:     with(keystoneEnv, map[string]string{"OS_USERNAME": ""}),
			wantErr: "OS_USERNAME",
		},
		{
			name:    "auth URL with user info",
			env:     with(keystoneEnv, map[string]string{"OS_AUTH_URL": "https://etcd:" + secret + "@k.example/v3"}),
			wantErr: "must not hold credentials",
		},
		{
			name:    "auth URL that is no URL",
			env:     with(keystoneEnv, map[string]string{"OS_AUTH_URL": "keystone.example"}),
			wantErr: "not an http(s) URL",
		},
		{
			name:      "directory, values trimmed",
			env:       with(keystoneEnv, map[string]string{credentialsDirEnv: dir}),
			fromFiles: true,
			want: credentials{AuthURL: "https://keystone.example:5000/v3", Region: "eu-1", Username: "etcd", Password: secret,
				DomainName: "Default", ProjectName: "backups"},
		},
		{
			name:      "directory with an application credential",
			env:       map[string]string{credentialsDirEnv: appCredDir},
			fromFiles: true,
			want:      credentials{AuthURL: "https://keystone.example:5000/v3", AppCredentialID: "ac-id", AppCredentialSecret: secret},
		},
		{
			name:      "missing directory",
			env:       map[string]string{credentialsDirEnv: filepath.Join(dir, "missing")},
			fromFiles: true,
			wantErr:   credentialsDirEnv,
		},
		{
			name:      "JSON file, and it wins over the directory",
			env:       map[string]string{credentialsDirEnv: appCredDir, credentialsJSONEnv: filepath.Join(jsonDir, "good.json")},
			fromFiles: true,
			want: credentials{AuthURL: "https://keystone.example:5000/v3", Region: "eu-2", Username: "etcd", Password: secret,
				DomainName: "Default", ProjectName: "backups"},
		},
		{
			name:      "JSON file for v1 auth",
			env:       map[string]string{credentialsJSONEnv: filepath.Join(jsonDir, "v1.json")},
			fromFiles: true,
			want:      credentials{AuthURL: "http://127.0.0.1:8080/auth/v1.0", Username: "test:tester", Password: secret},
		},
		{
			name:      "JSON that is no object",
			env:       map[string]string{credentialsJSONEnv: filepath.Join(jsonDir, "not-object.json")},
			fromFiles: true,
			wantErr:   "not a JSON object",
		},
		{
			name:      "JSON field that is no string",
			env:       map[string]string{credentialsJSONEnv: filepath.Join(jsonDir, "number.json")},
			fromFiles: true,
			wantErr:   `field "password" must be a string`,
		},
		{
			name:      "JSON cut short",
			env:       map[string]string{credentialsJSONEnv: filepath.Join(jsonDir, "broken.json")},
			fromFiles: true,
			wantErr:   "not a JSON object",
		},
		{
			name:      "missing JSON file",
			env:       map[string]string{credentialsJSONEnv: filepath.Join(jsonDir, "missing.json")},
			fromFiles: true,
			wantErr:   credentialsJSONEnv,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fromFiles, err := loadCredentials(envOf(tt.env))
			if fromFiles != tt.fromFiles {
				t.Errorf("fromFiles = %v, want %v", fromFiles, tt.fromFiles)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadCredentials = %v, want an error containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrCredentials) {
					t.Errorf("error %v does not match ErrCredentials", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadCredentials: %v", err)
			}
			got.source = ""
			if got != tt.want {
				t.Errorf("loadCredentials =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestV1Selection(t *testing.T) {
	tests := []struct {
		authURL, version string
		want             bool
	}{
		{"http://h:8080/auth/v1.0", "", true},
		{"http://h:8080/auth/v1.0/", "", true},
		{"http://h:8080/swift/auth/v1.0", "", true},
		{"https://h:5000/v3", "", false},
		{"https://h:5000/v2.0", "", false},
		{"https://h:5000/v3", "3", false},
		{"http://h:8080/auth/v1.0", "1", true},
		{"http://h:8080/auth/v1.0", "1.0", true},
	}
	for _, tt := range tests {
		c := credentials{AuthURL: tt.authURL, AuthVersion: tt.version}
		if got := c.v1(); got != tt.want {
			t.Errorf("v1() for %q, version %q = %v, want %v", tt.authURL, tt.version, got, tt.want)
		}
	}
	for _, tt := range []struct{ user, project, want string }{
		{"test:tester", "", "test:tester"},
		{"test:tester", "other", "test:tester"},
		{"tester", "test", "test:tester"},
		{"tester", "", "tester"},
	} {
		c := credentials{Username: tt.user, ProjectName: tt.project}
		if got := c.v1User(); got != tt.want {
			t.Errorf("v1User() for user %q, project %q = %q, want %q", tt.user, tt.project, got, tt.want)
		}
	}
}

func TestKeystoneOptions(t *testing.T) {
	tests := []struct {
		name      string
		creds     credentials
		wantScope *gophercloud.AuthScope
		wantUser  string // DomainName of the user
	}{
		{
			name:      "one domain for user and project",
			creds:     credentials{Username: "u", Password: "p", DomainName: "Default", ProjectName: "backups"},
			wantScope: &gophercloud.AuthScope{ProjectName: "backups", DomainName: "Default"},
			wantUser:  "Default",
		},
		{
			name:      "separate user and project domains",
			creds:     credentials{Username: "u", Password: "p", UserDomainName: "users", ProjectDomainName: "projects", ProjectName: "backups"},
			wantScope: &gophercloud.AuthScope{ProjectName: "backups", DomainName: "projects"},
			wantUser:  "users",
		},
		{
			name:      "project by ID",
			creds:     credentials{Username: "u", Password: "p", DomainName: "Default", ProjectID: "abc", ProjectName: "backups"},
			wantScope: &gophercloud.AuthScope{ProjectID: "abc"},
			wantUser:  "Default",
		},
		{
			name:      "project domain by ID",
			creds:     credentials{Username: "u", Password: "p", UserDomainName: "users", ProjectDomainID: "d1", ProjectName: "backups"},
			wantScope: &gophercloud.AuthScope{ProjectName: "backups", DomainID: "d1"},
			wantUser:  "users",
		},
		{
			name:     "application credential: no scope, no password",
			creds:    credentials{AppCredentialID: "id", AppCredentialSecret: "s", ProjectName: "ignored", Password: "p"},
			wantUser: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ao := keystoneOptions(tt.creds)
			if !ao.AllowReauth {
				t.Error("AllowReauth is off")
			}
			if ao.DomainName != tt.wantUser {
				t.Errorf("user domain %q, want %q", ao.DomainName, tt.wantUser)
			}
			switch {
			case tt.wantScope == nil && ao.Scope != nil:
				t.Errorf("scope %+v, want none", *ao.Scope)
			case tt.wantScope != nil && (ao.Scope == nil || *ao.Scope != *tt.wantScope):
				t.Errorf("scope %+v, want %+v", ao.Scope, *tt.wantScope)
			}
			if tt.creds.AppCredentialID != "" && (ao.Password != "" || ao.ApplicationCredentialSecret != tt.creds.AppCredentialSecret) {
				t.Errorf("application credential options: password %q, secret %q", ao.Password, ao.ApplicationCredentialSecret)
			}
		})
	}
}
