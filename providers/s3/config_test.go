package s3

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"etcdbrctl/providers"
)

func TestNewRefusesBadSettings(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	tests := []struct {
		name    string
		url     string
		opts    Options
		wantErr string
		hidden  string // must not appear in the error
	}{
		{name: "part size below 5 MiB", url: "s3://b/p?region=r", opts: Options{PartSize: 4 << 20}, wantErr: "minimum of 5 MiB"},
		{name: "part size above 5 GiB", url: "s3://b/p?region=r", opts: Options{PartSize: 6 << 30}, wantErr: "maximum of 5 GiB"},
		{name: "negative concurrency", url: "s3://b/p?region=r", opts: Options{Concurrency: -1}, wantErr: "concurrency -1"},
		{name: "unknown parameter", url: "s3://b/p?regoin=r", wantErr: `unknown parameter "regoin" (supported: region, endpoint, force-path-style)`},
		{name: "repeated parameter", url: "s3://b/p?region=a&region=b", wantErr: `"region" given 2 times`},
		{name: "bad path style", url: "s3://b/p?region=r&force-path-style=sure", wantErr: "want true or false"},
		{name: "endpoint with user info", url: "s3://b/p?endpoint=http://user:hunter2@127.0.0.1:9000", wantErr: "must not carry user info", hidden: "hunter2"},
		{name: "endpoint scheme", url: "s3://b/p?endpoint=ftp://127.0.0.1:9000", wantErr: `scheme "ftp"`},
		{name: "endpoint without host", url: "s3://b/p?endpoint=http://", wantErr: "no host"},
		{name: "no region anywhere", url: "s3://b/p", wantErr: "no region: add ?region="},
		{name: "other scheme", url: "gs://b/p", wantErr: `scheme "gs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := providers.ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(t.Context(), loc, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%s) = %v, want an error containing %q", tt.url, err, tt.wantErr)
			}
			for _, secret := range []string{testSecret, tt.hidden} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestSettingsPrecedence checks where region, endpoint and path style come
// from: the URL, then the credential file, then the SDK's environment.
func TestSettingsPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		file      string // credential JSON; none when empty
		envRegion string
		region    string
		endpoint  string
		pathStyle bool
	}{
		{name: "URL only", url: "s3://b/p?region=eu-west-1", region: "eu-west-1"},
		{name: "environment region", url: "s3://b/p", envRegion: "ap-south-1", region: "ap-south-1"},
		{name: "endpoint without region", url: "s3://b?endpoint=http://127.0.0.1:9000&force-path-style=true", region: "us-east-1", endpoint: "http://127.0.0.1:9000", pathStyle: true},
		{
			name:     "file fills what the URL lacks",
			url:      "s3://b/p",
			file:     `{"accessKeyID":"AK","secretAccessKey":"S","region":"eu-north-1","endpoint":"http://127.0.0.1:9001","s3ForcePathStyle":true}`,
			region:   "eu-north-1",
			endpoint: "http://127.0.0.1:9001", pathStyle: true,
		},
		{
			name:     "URL wins over the file",
			url:      "s3://b/p?region=us-west-2&endpoint=http://127.0.0.1:9002&force-path-style=false",
			file:     `{"accessKeyID":"AK","secretAccessKey":"S","region":"eu-north-1","endpoint":"http://127.0.0.1:9001","s3ForcePathStyle":true}`,
			region:   "us-west-2",
			endpoint: "http://127.0.0.1:9002",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv("AWS_ACCESS_KEY_ID", "AK")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "S")
			t.Setenv("AWS_REGION", tt.envRegion)
			if tt.file != "" {
				path := filepath.Join(t.TempDir(), "creds.json")
				writeFile(t, path, tt.file)
				t.Setenv(envCredentialsJSON, path)
			}
			loc, err := providers.ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), loc, Options{})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			o := s.client.Options()
			if o.Region != tt.region || aws.ToString(o.BaseEndpoint) != tt.endpoint || o.UsePathStyle != tt.pathStyle {
				t.Errorf("region %q, endpoint %q, path style %v; want %q, %q, %v",
					o.Region, aws.ToString(o.BaseEndpoint), o.UsePathStyle, tt.region, tt.endpoint, tt.pathStyle)
			}
		})
	}
}

// TestCredentialFileAgainstServer uses the keys of a credential file over
// those of the environment, and follows the file when it is rewritten.
func TestCredentialFileAgainstServer(t *testing.T) {
	srv := startServer(t)
	bucket := srv.CreateBucket(t)
	// Wrong keys in the environment: only the file's keys can succeed.
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "environment-secret-is-wrong")
	creds := func(secret string) string {
		return fmt.Sprintf(`{"accessKeyID":%q,"secretAccessKey":%q,"region":%q,"endpoint":%q,"s3ForcePathStyle":true}`,
			srv.AccessKey, secret, srv.Region, srv.Endpoint)
	}

	for _, layout := range []string{"json", "directory"} {
		t.Run(layout, func(t *testing.T) {
			write := func(secret string) {}
			if layout == "json" {
				path := filepath.Join(t.TempDir(), "creds.json")
				write = func(secret string) { writeFile(t, path, creds(secret)); bumpMtime(t, path) }
				t.Setenv(envCredentialsJSON, path)
			} else {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "accessKeyID"), srv.AccessKey)
				writeFile(t, filepath.Join(dir, "endpoint"), srv.Endpoint)
				writeFile(t, filepath.Join(dir, "s3ForcePathStyle"), "true")
				write = func(secret string) {
					p := filepath.Join(dir, "secretAccessKey")
					writeFile(t, p, secret+"\n")
					bumpMtime(t, p)
				}
				t.Setenv(envCredentialsDir, dir)
			}
			write(srv.SecretKey)
			loc, err := providers.ParseURL("s3://" + bucket + "/" + layout)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), loc, Options{credentialRecheck: time.Millisecond})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			putUntil(t, s, nil)
			write("rotated-away-secret")
			putUntil(t, s, providers.ErrPermission)
			write(srv.SecretKey)
			putUntil(t, s, nil)
		})
	}
}

// putUntil puts an object until the outcome matches want (nil: success),
// a bounded number of times: a changed file is noticed within the recheck
// interval, not at once.
func putUntil(t *testing.T, s *Store, want error) {
	t.Helper()
	var err error
	for range 100 {
		err = s.Put(t.Context(), "probe", strings.NewReader("x"))
		if (want == nil && err == nil) || (want != nil && errors.Is(err, want)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Put = %v after 100 tries, want %v", err, want)
}
