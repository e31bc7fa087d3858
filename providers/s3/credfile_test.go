package s3

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testSecret = "s3cr3t-VALUE-never-shown"

func TestCredentialJSON(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    fileCredentials // compared on keys, region, endpoint, path style
		wantErr string          // substring; empty for success
	}{
		{
			name:    "all fields of the etcd-backup-restore layout",
			content: `{"accessKeyID":"AK","secretAccessKey":"` + testSecret + `","region":"eu-west-1","endpoint":"http://127.0.0.1:9000","s3ForcePathStyle":true,"bucketName":"ignored"}`,
			want:    fileCredentials{AccessKeyID: "AK", SecretAccessKey: testSecret, Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", S3ForcePathStyle: ptr(true)},
		},
		{
			name:    "keys only, whitespace trimmed",
			content: "{\"accessKeyID\":\" AK\\n\",\"secretAccessKey\":\"" + testSecret + "\\n\"}",
			want:    fileCredentials{AccessKeyID: "AK", SecretAccessKey: testSecret},
		},
		{name: "missing secret", content: `{"accessKeyID":"AK"}`, wantErr: "missing secretAccessKey"},
		{name: "missing both keys", content: `{"region":"r"}`, wantErr: "missing accessKeyID and secretAccessKey"},
		{name: "not JSON", content: `accessKeyID=AK secretAccessKey=` + testSecret, wantErr: "not valid JSON"},
		{name: "wrong type", content: `{"accessKeyID":"AK","secretAccessKey":"` + testSecret + `","s3ForcePathStyle":"yes"}`, wantErr: "s3ForcePathStyle"},
		{name: "SSE-C refused", content: `{"accessKeyID":"AK","secretAccessKey":"` + testSecret + `","sseCustomerKey":"` + testSecret + `","sseCustomerAlgorithm":"AES256"}`, wantErr: "SSE-C"},
		{name: "insecureSkipVerify refused", content: `{"accessKeyID":"AK","secretAccessKey":"x","insecureSkipVerify":true}`, wantErr: "insecureSkipVerify"},
		{name: "insecureSkipVerify false is fine", content: `{"accessKeyID":"AK","secretAccessKey":"x","insecureSkipVerify":false}`, want: fileCredentials{AccessKeyID: "AK", SecretAccessKey: "x"}},
		{name: "trustedCaCert refused", content: `{"accessKeyID":"AK","secretAccessKey":"x","trustedCaCert":"PEM"}`, wantErr: "AWS_CA_BUNDLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "credentials.json")
			writeFile(t, path, tt.content)
			src := credentialSource{env: envCredentialsJSON, path: path}
			got, err := src.read()
			checkCredentials(t, got, err, tt.want, tt.wantErr, path)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		src := credentialSource{env: envCredentialsJSON, path: filepath.Join(t.TempDir(), "absent.json")}
		_, err := src.read()
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), envCredentialsJSON) {
			t.Errorf("read of a missing file = %v, want a not-exist error naming %s", err, envCredentialsJSON)
		}
	})
}

func TestCredentialDirectory(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    fileCredentials
		wantErr string
	}{
		{
			name: "all fields, trailing newlines",
			files: map[string]string{
				"accessKeyID": "AK\n", "secretAccessKey": testSecret + "\n", "region": "eu-central-1\n",
				"endpoint": "http://127.0.0.1:9000", "s3ForcePathStyle": "true\n", "unrelated": "x",
			},
			want: fileCredentials{AccessKeyID: "AK", SecretAccessKey: testSecret, Region: "eu-central-1", Endpoint: "http://127.0.0.1:9000", S3ForcePathStyle: ptr(true)},
		},
		{
			name:  "keys only",
			files: map[string]string{"accessKeyID": "AK", "secretAccessKey": testSecret},
			want:  fileCredentials{AccessKeyID: "AK", SecretAccessKey: testSecret},
		},
		{name: "empty secret file", files: map[string]string{"accessKeyID": "AK", "secretAccessKey": "\n"}, wantErr: "missing secretAccessKey"},
		{name: "no access key", files: map[string]string{"secretAccessKey": testSecret}, wantErr: "missing accessKeyID"},
		{name: "bad bool", files: map[string]string{"accessKeyID": "AK", "secretAccessKey": testSecret, "s3ForcePathStyle": "sure"}, wantErr: "s3ForcePathStyle: want true or false"},
		{name: "SSE-C refused", files: map[string]string{"accessKeyID": "AK", "secretAccessKey": testSecret, "sseCustomerKey": testSecret}, wantErr: "SSE-C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			src := credentialSource{env: envCredentialsDir, path: dir, dir: true}
			got, err := src.read()
			checkCredentials(t, got, err, tt.want, tt.wantErr, dir)
		})
	}
	t.Run("a file, not a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "creds")
		writeFile(t, path, "x")
		_, err := credentialSource{env: envCredentialsDir, path: path, dir: true}.read()
		if err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("read = %v, want a 'not a directory' error", err)
		}
	})
}

func TestCredentialSourceFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name   string
		env    map[string]string
		wantOK bool
		want   credentialSource
	}{
		{"none", nil, false, credentialSource{}},
		{"directory", map[string]string{envCredentialsDir: "/d"}, true, credentialSource{env: envCredentialsDir, path: "/d", dir: true}},
		{"json", map[string]string{envCredentialsJSON: "/f.json"}, true, credentialSource{env: envCredentialsJSON, path: "/f.json"}},
		{"both: json wins", map[string]string{envCredentialsDir: "/d", envCredentialsJSON: "/f.json"}, true, credentialSource{env: envCredentialsJSON, path: "/f.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := credentialSourceFromEnv(env(tt.env))
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("credentialSourceFromEnv = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestRotatingCredentials follows a JSON file rewritten in place and a
// directory whose files are swapped as Kubernetes swaps a mounted secret.
func TestRotatingCredentials(t *testing.T) {
	t.Run("json rewritten in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "creds.json")
		writeFile(t, path, `{"accessKeyID":"AK1","secretAccessKey":"S1"}`)
		p := newRotatingCredentials(credentialSource{env: envCredentialsJSON, path: path}, time.Minute)
		wantKeys(t, p, "AK1", "S1")
		wantKeys(t, p, "AK1", "S1")
		writeFile(t, path, `{"accessKeyID":"AK2","secretAccessKey":"S2-longer"}`)
		wantKeys(t, p, "AK2", "S2-longer")
		// Same size, so only the modification time tells.
		writeFile(t, path, `{"accessKeyID":"AK3","secretAccessKey":"S3-longer"}`)
		bumpMtime(t, path)
		wantKeys(t, p, "AK3", "S3-longer")
	})

	t.Run("directory with a swapped secret mount", func(t *testing.T) {
		dir := t.TempDir()
		mountSecret(t, dir, "v1", map[string]string{"accessKeyID": "AK1", "secretAccessKey": "S1"})
		p := newRotatingCredentials(credentialSource{env: envCredentialsDir, path: dir, dir: true}, time.Minute)
		wantKeys(t, p, "AK1", "S1")
		mountSecret(t, dir, "v2", map[string]string{"accessKeyID": "AK2", "secretAccessKey": "S2"})
		wantKeys(t, p, "AK2", "S2")
	})

	t.Run("unreadable change keeps the last good keys", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "creds.json")
		writeFile(t, path, `{"accessKeyID":"AK1","secretAccessKey":"S1"}`)
		p := newRotatingCredentials(credentialSource{env: envCredentialsJSON, path: path}, time.Minute)
		wantKeys(t, p, "AK1", "S1")
		writeFile(t, path, `{"accessKeyID":"AK2","secr`) // half written
		wantKeys(t, p, "AK1", "S1")
		writeFile(t, path, `{"accessKeyID":"AK2","secretAccessKey":"S2"}`)
		wantKeys(t, p, "AK2", "S2")
	})

	t.Run("no good read yet", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "creds.json")
		writeFile(t, path, `{"accessKeyID":"AK1"}`)
		p := newRotatingCredentials(credentialSource{env: envCredentialsJSON, path: path}, time.Minute)
		if _, err := p.Retrieve(t.Context()); err == nil || !strings.Contains(err.Error(), "missing secretAccessKey") {
			t.Errorf("Retrieve = %v, want the missing-field error", err)
		}
	})

	t.Run("expiry makes the SDK ask again", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "creds.json")
		writeFile(t, path, `{"accessKeyID":"AK1","secretAccessKey":"S1"}`)
		p := newRotatingCredentials(credentialSource{env: envCredentialsJSON, path: path}, 42*time.Second)
		before := time.Now()
		c, err := p.Retrieve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !c.CanExpire || c.Expires.Before(before.Add(42*time.Second)) || c.Expires.After(time.Now().Add(42*time.Second)) {
			t.Errorf("credentials expire %v (CanExpire %v), want 42s after the read", c.Expires, c.CanExpire)
		}
	})
}

func checkCredentials(t *testing.T, got fileCredentials, err error, want fileCredentials, wantErr, path string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("read = %v, want an error containing %q", err, wantErr)
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error shows the secret: %v", err)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name %s", err, path)
		}
		return
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey ||
		got.Region != want.Region || got.Endpoint != want.Endpoint ||
		(got.S3ForcePathStyle == nil) != (want.S3ForcePathStyle == nil) ||
		(got.S3ForcePathStyle != nil && *got.S3ForcePathStyle != *want.S3ForcePathStyle) {
		t.Errorf("read = %+v, want %+v", got, want)
	}
}

func wantKeys(t *testing.T, p *rotatingCredentials, access, secret string) {
	t.Helper()
	c, err := p.Retrieve(t.Context())
	if err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	if c.AccessKeyID != access || c.SecretAccessKey != secret {
		t.Errorf("Retrieve = %s/%s, want %s/%s", c.AccessKeyID, c.SecretAccessKey, access, secret)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bumpMtime moves a file's modification time an hour on, for a rewrite
// that a coarse clock would not tell apart.
func bumpMtime(t *testing.T, path string) {
	t.Helper()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// mountSecret lays files out as a Kubernetes secret volume does: the data in
// a versioned directory, a "..data" link to it swapped by rename, and each
// name a link through "..data".
func mountSecret(t *testing.T, dir, version string, files map[string]string) {
	t.Helper()
	versioned := filepath.Join(dir, ".."+version)
	if err := os.Mkdir(versioned, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		writeFile(t, filepath.Join(versioned, name), content)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(".."+version, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }
