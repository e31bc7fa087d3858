package providers

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw  string
		want Location
	}{
		{"file:///var/backups", Location{Scheme: "file", Path: "/var/backups", Query: url.Values{}}},
		{"file:///var/backups/", Location{Scheme: "file", Path: "/var/backups", Query: url.Values{}}},
		{"file:///var/x/../backups", Location{Scheme: "file", Path: "/var/backups", Query: url.Values{}}},
		{"file:///", Location{Scheme: "file", Path: "/", Query: url.Values{}}},
		{"file:///with%20space", Location{Scheme: "file", Path: "/with space", Query: url.Values{}}},
		{"FILE:///upper", Location{Scheme: "file", Path: "/upper", Query: url.Values{}}},
		{"file:///q?mode=x", Location{Scheme: "file", Path: "/q", Query: url.Values{"mode": {"x"}}}},
		{"/abs/path", Location{Scheme: "file", Path: "/abs/path", Query: url.Values{}}},
		{"  /trimmed  ", Location{Scheme: "file", Path: "/trimmed", Query: url.Values{}}},
		{"relative/dir", Location{Scheme: "file", Path: filepath.Join(wd, "relative/dir"), Query: url.Values{}}},
		{"./rel", Location{Scheme: "file", Path: filepath.Join(wd, "rel"), Query: url.Values{}}},
		{".", Location{Scheme: "file", Path: wd, Query: url.Values{}}},
		{"./s3:bucket", Location{Scheme: "file", Path: filepath.Join(wd, "s3:bucket"), Query: url.Values{}}},
		{"/dir/with:colon", Location{Scheme: "file", Path: "/dir/with:colon", Query: url.Values{}}},
		{"s3://bucket", Location{Scheme: "s3", Bucket: "bucket", Query: url.Values{}}},
		{"s3://bucket/", Location{Scheme: "s3", Bucket: "bucket", Query: url.Values{}}},
		{"s3://bucket/a/b/", Location{Scheme: "s3", Bucket: "bucket", Prefix: "a/b", Query: url.Values{}}},
		{"S3://Bucket.Name/p", Location{Scheme: "s3", Bucket: "Bucket.Name", Prefix: "p", Query: url.Values{}}},
		{
			"s3://bucket/etcd/main?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A7070",
			Location{Scheme: "s3", Bucket: "bucket", Prefix: "etcd/main", Query: url.Values{
				"region": {"eu-west-1"}, "endpoint": {"http://127.0.0.1:7070"},
			}},
		},
		{"gs://b/p", Location{Scheme: "gs", Bucket: "b", Prefix: "p", Query: url.Values{}}},
		{"azblob://container/p?account=acc", Location{Scheme: "azblob", Bucket: "container", Prefix: "p", Query: url.Values{"account": {"acc"}}}},
		{"swift://container", Location{Scheme: "swift", Bucket: "container", Query: url.Values{}}},
		{"custom+x://b/p%20q", Location{Scheme: "custom+x", Bucket: "b", Prefix: "p q", Query: url.Values{}}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tt.raw, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseURL(%q) = %#v, want %#v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		raw      string
		wantText string // part of the error message that names the problem
	}{
		{"", "empty store URL"},
		{"   ", "empty store URL"},
		{"://bucket/x", "missing scheme"},
		{"s3:bucket/x", `missing "//" after "s3:"`},
		{"file:/abs", `missing "//" after "file:"`},
		{"file://", "missing path"},
		{"file://./rel", "relative paths are not allowed"},
		{"file://../rel", "relative paths are not allowed"},
		{"file://host/x", `unexpected host "host"`},
		{"s3://", "missing bucket"},
		{"s3:///prefix", "missing bucket"},
		{"s3://bucket:9000/x", "has a port"},
		{"s3://bucket:/x", "has a port"},
		{"s3://b/a//c", "empty segment"},
		{"s3://b/a/../c", `".." segment`},
		{"s3://b/./c", `"." segment`},
		{"s3://b/x#frag", "unexpected fragment"},
		{"s3://b/x?a=%zz", "query"},
		{"s3://b/%zz", "invalid URL escape"},
		{"s3://user:hunter2@bucket/x", "credentials in the URL are not supported"},
		{"s3://b/x\x7f", "invalid control character"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseURL(%q) = %#v, want an error", tt.raw, got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("ParseURL(%q) error %q does not contain %q", tt.raw, msg, tt.wantText)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("ParseURL(%q) error is not one line: %q", tt.raw, msg)
			}
		})
	}
}

// Errors name the URL but must not carry secrets from it.
func TestParseURLErrorsHideSecrets(t *testing.T) {
	tests := []string{
		"s3://user:hunter2@bucket/x?secret=hunter2",
		"s3://bucket:9000/x?secret_key=hunter2",
		"s3:bucket?token=hunter2",
		"s3://b/x?sig=hunter2#frag",
		"s3:///x?password=hunter2",
		"s3://b/%zz?key=hunter2",
		"file://host/x?token=hunter2",
	}
	for _, raw := range tests {
		_, err := ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q): want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error leaks the secret: %v", raw, err)
		}
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		raw  string
		want string
	}{
		{"file:///var/backups", "file:///var/backups"},
		{"/with space/x", "file:///with%20space/x"},
		{"s3://bucket", "s3://bucket"},
		{"s3://bucket/a/b?region=r", "s3://bucket/a/b?region=r"},
		{"s3://b/p?secret=s1&access_key=s2&region=r", "s3://b/p?access_key=REDACTED&region=r&secret=REDACTED"},
		{"azblob://c?account=acc&SAS=s1&Sig=s2", "azblob://c?SAS=REDACTED&Sig=REDACTED&account=acc"},
		{"swift://c?password=s1&auth_token=s2&credentials=s3", "swift://c?auth_token=REDACTED&credentials=REDACTED&password=REDACTED"},
		{"s3://b?endpoint=https%3A%2F%2Fu%3As1%40host%3A9000", "s3://b?endpoint=https%3A%2F%2FREDACTED%40host%3A9000"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			loc, err := ParseURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := loc.String(); got != tt.want {
				t.Errorf("ParseURL(%q).String() = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	if got := (Location{}).String(); got != "" {
		t.Errorf("zero Location String() = %q, want empty", got)
	}
}

// FuzzParseURL checks the promises ParseURL makes about any location it
// accepts, and that printing a location without secrets parses back to it.
func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"file:///var/backups",
		"/abs/path",
		"rel/dir",
		"file://./rel",
		"s3://bucket/a/b?region=r&endpoint=http%3A%2F%2F127.0.0.1%3A1",
		"gs://b",
		"azblob://c/p?account=a&sig=x",
		"swift://c//x",
		"s3:bucket",
		"s3://u:p@b/x",
		"x://b/%41?a=1&a=2&b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		loc, err := ParseURL(raw)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseURL(%q) error is not one line: %q", raw, err)
			}
			return
		}
		if loc.Scheme == "" || loc.Query == nil {
			t.Fatalf("ParseURL(%q) = %#v: missing scheme or query", raw, loc)
		}
		if loc.Scheme == "file" {
			if !filepath.IsAbs(loc.Path) || filepath.Clean(loc.Path) != loc.Path || loc.Bucket != "" || loc.Prefix != "" {
				t.Fatalf("ParseURL(%q) = %#v: bad file location", raw, loc)
			}
		} else {
			if loc.Bucket == "" || loc.Path != "" {
				t.Fatalf("ParseURL(%q) = %#v: bad bucket location", raw, loc)
			}
			if strings.HasPrefix(loc.Prefix, "/") || strings.HasSuffix(loc.Prefix, "/") || strings.Contains(loc.Prefix, "//") {
				t.Fatalf("ParseURL(%q) = %#v: bad prefix", raw, loc)
			}
		}
		for name := range loc.Query {
			if isSecretName(name) {
				return // String hides it, so it cannot parse back the same
			}
		}
		printed := loc.String()
		again, err := ParseURL(printed)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %#v prints as %q, which does not parse: %v", raw, loc, printed, err)
		}
		if !reflect.DeepEqual(again, loc) && !strings.Contains(printed, redacted) {
			t.Fatalf("ParseURL(%q) = %#v prints as %q, which parses as %#v", raw, loc, printed, again)
		}
	})
}
