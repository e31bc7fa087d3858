package providers

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Location is a parsed store URL. ParseURL accepts any scheme; the caller
// decides which ones it supports.
type Location struct {
	Scheme string     // "file", "s3", "gs", "azblob", "swift", or whatever scheme was given
	Bucket string     // bucket/container; empty for file
	Prefix string     // key prefix inside the bucket, no leading or trailing slash
	Path   string     // absolute local directory, for file only
	Query  url.Values // the query parameters (region, endpoint, account, ...)
}

// ParseURL parses a store URL:
//
//	file:///absolute/path        a local directory
//	/absolute/path, ./relative   a local directory (made absolute against the working directory)
//	scheme://bucket/some/prefix?region=x&endpoint=y
//
// Credentials never belong in the URL itself: user info is rejected, and error
// messages never repeat the query, which may hold secrets.
func ParseURL(raw string) (Location, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Location{}, errors.New("empty store URL")
	}
	scheme, rest, isURL := splitScheme(raw)
	if !isURL {
		return parsePlainPath(raw)
	}
	if scheme == "" {
		return Location{}, fmt.Errorf("store URL %s: missing scheme before \"://\"", describe(raw))
	}
	if !strings.HasPrefix(rest, "//") {
		return Location{}, fmt.Errorf("store URL %s: missing \"//\" after %q (write %s://bucket/prefix, or start a local path with ./)",
			describe(raw), scheme+":", strings.ToLower(scheme))
	}
	u, err := url.Parse(raw)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the whole URL, query included
		}
		return Location{}, fmt.Errorf("store URL %s: %w", describe(raw), err)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("store URL %s: credentials in the URL are not supported; use the provider's credential settings", describe(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return Location{}, fmt.Errorf("store URL %s: unexpected fragment (write a literal '#' as %%23)", describe(raw))
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("store URL %s: query: %w", describe(raw), err)
	}
	if u.Scheme == "file" {
		return parseFileURL(u, raw, query)
	}
	return parseBucketURL(u, raw, query)
}

// splitScheme reports whether raw starts with "scheme:" and so is meant as a
// URL rather than a local path. A leading "://" counts as a URL with an empty
// scheme so that it gets a clear error instead of becoming a directory name.
func splitScheme(raw string) (scheme, rest string, isURL bool) {
	if strings.HasPrefix(raw, "://") {
		return "", raw[1:], true
	}
	scheme, rest, found := strings.Cut(raw, ":")
	if !found || !validScheme(scheme) {
		return "", "", false
	}
	return scheme, rest, true
}

// validScheme follows RFC 3986: a letter, then letters, digits, '+', '-', '.'.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func parsePlainPath(raw string) (Location, error) {
	abs, err := filepath.Abs(raw)
	if err != nil {
		return Location{}, fmt.Errorf("store path %q: %w", raw, err)
	}
	return Location{Scheme: "file", Path: abs, Query: url.Values{}}, nil
}

func parseFileURL(u *url.URL, raw string, query url.Values) (Location, error) {
	switch {
	case u.Host == "." || u.Host == "..":
		return Location{}, fmt.Errorf("file URL %s: relative paths are not allowed in file URLs; use file:///absolute/path, or the plain path %s",
			describe(raw), u.Host+u.Path)
	case u.Host != "":
		return Location{}, fmt.Errorf("file URL %s: unexpected host %q; use file:///absolute/path", describe(raw), u.Host)
	case u.Path == "":
		return Location{}, fmt.Errorf("file URL %s: missing path; use file:///absolute/path", describe(raw))
	}
	return Location{Scheme: "file", Path: filepath.Clean(u.Path), Query: query}, nil
}

func parseBucketURL(u *url.URL, raw string, query url.Values) (Location, error) {
	if u.Host == "" {
		return Location{}, fmt.Errorf("store URL %s: missing bucket (write %s://bucket/prefix)", describe(raw), u.Scheme)
	}
	if u.Port() != "" || strings.HasSuffix(u.Host, ":") {
		return Location{}, fmt.Errorf("store URL %s: bucket %q has a port; give a custom endpoint as ?endpoint=", describe(raw), u.Host)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		for seg := range strings.SplitSeq(prefix, "/") {
			switch seg {
			case "":
				return Location{}, fmt.Errorf("store URL %s: prefix %q has an empty segment", describe(raw), prefix)
			case ".", "..":
				return Location{}, fmt.Errorf("store URL %s: prefix %q has a %q segment", describe(raw), prefix, seg)
			}
		}
	}
	return Location{Scheme: u.Scheme, Bucket: u.Host, Prefix: prefix, Query: query}, nil
}

// describe quotes raw for an error message without the parts that can hold
// secrets: the query, the fragment and any user info.
func describe(raw string) string {
	base, _, hasQuery := strings.Cut(raw, "?")
	base, _, hasFragment := strings.Cut(base, "#")
	if scheme, rest, ok := strings.Cut(base, "://"); ok {
		authority, path, hasPath := strings.Cut(rest, "/")
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			authority = redacted + authority[i:]
		}
		base = scheme + "://" + authority
		if hasPath {
			base += "/" + path
		}
	}
	if hasQuery || hasFragment {
		base += "?..."
	}
	return fmt.Sprintf("%q", base)
}

const redacted = "REDACTED"

// isSecretName reports whether a query parameter's value must not be shown.
// Hiding too much costs nothing; a secret shown in a log cannot be taken back.
func isSecretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"secret", "key", "token", "pass", "pwd", "sig", "credential", "auth", "sas"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// String returns the location as a URL that is safe to print: values of
// secret-looking query parameters, and user info inside query values that are
// URLs themselves, are replaced by REDACTED.
func (l Location) String() string {
	if l.Scheme == "" {
		return ""
	}
	u := url.URL{Scheme: l.Scheme, RawQuery: redactQuery(l.Query).Encode()}
	if l.Scheme == "file" && l.Bucket == "" {
		u.Path = l.Path
		return u.String()
	}
	u.Host = l.Bucket
	if l.Prefix != "" {
		u.Path = "/" + l.Prefix
	}
	return u.String()
}

func redactQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for name, values := range q {
		safe := make([]string, len(values))
		for i, v := range values {
			safe[i] = redactValue(name, v)
		}
		out[name] = safe
	}
	return out
}

func redactValue(name, value string) string {
	if isSecretName(name) {
		return redacted
	}
	// An endpoint such as https://user:pass@host carries its own secret.
	if u, err := url.Parse(value); err == nil && u.User != nil {
		u.User = url.User(redacted)
		return u.String()
	}
	return value
}
