package swift

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables naming credential files in the layout gardener's
// etcd-backup-restore reads: a directory with one file per field, or one
// JSON file with the same field names.
const (
	credentialsDirEnv  = "OPENSTACK_APPLICATION_CREDENTIALS"
	credentialsJSONEnv = "OPENSTACK_APPLICATION_CREDENTIALS_JSON"
)

// ErrCredentials is matched by errors about missing or unusable credential
// settings: something the user has to fix in the environment or the files.
var ErrCredentials = errors.New("swift credentials")

// credentials are what authentication needs. The struct is comparable, so a
// change in the files is noticed by comparing two reads.
type credentials struct {
	AuthURL     string
	AuthVersion string // "1" for v1 auth (tempauth, swauth); else Keystone
	Region      string

	Username, UserID, Password string
	// DomainName and DomainID apply to both the user and the project unless
	// the more specific ones are set.
	DomainName, DomainID               string
	UserDomainName, UserDomainID       string
	ProjectDomainName, ProjectDomainID string
	ProjectName, ProjectID             string
	AppCredentialID, AppCredentialName string
	AppCredentialSecret                string
	source                             string // where they came from, for messages
}

// credentialFields maps gardener's field names (file names in the directory,
// keys in the JSON file) to the credentials they fill.
func credentialFields(c *credentials) map[string]*string {
	return map[string]*string{
		"authURL":                     &c.AuthURL,
		"region":                      &c.Region,
		"username":                    &c.Username,
		"password":                    &c.Password,
		"domainName":                  &c.DomainName,
		"tenantName":                  &c.ProjectName,
		"applicationCredentialID":     &c.AppCredentialID,
		"applicationCredentialName":   &c.AppCredentialName,
		"applicationCredentialSecret": &c.AppCredentialSecret,
	}
}

// envFields are the OS_* variables, as the OpenStack command line clients
// and gophercloud's AuthOptionsFromEnv read them, later names winning.
func envFields(c *credentials) []struct {
	name string
	dst  *string
} {
	return []struct {
		name string
		dst  *string
	}{
		{"OS_AUTH_URL", &c.AuthURL},
		{"OS_AUTH_VERSION", &c.AuthVersion},
		{"OS_REGION_NAME", &c.Region},
		{"OS_USERNAME", &c.Username},
		{"OS_USERID", &c.UserID},
		{"OS_PASSWORD", &c.Password},
		{"OS_DOMAIN_NAME", &c.DomainName},
		{"OS_DOMAIN_ID", &c.DomainID},
		{"OS_USER_DOMAIN_NAME", &c.UserDomainName},
		{"OS_USER_DOMAIN_ID", &c.UserDomainID},
		{"OS_PROJECT_DOMAIN_NAME", &c.ProjectDomainName},
		{"OS_PROJECT_DOMAIN_ID", &c.ProjectDomainID},
		{"OS_TENANT_NAME", &c.ProjectName},
		{"OS_PROJECT_NAME", &c.ProjectName},
		{"OS_TENANT_ID", &c.ProjectID},
		{"OS_PROJECT_ID", &c.ProjectID},
		{"OS_APPLICATION_CREDENTIAL_ID", &c.AppCredentialID},
		{"OS_APPLICATION_CREDENTIAL_NAME", &c.AppCredentialName},
		{"OS_APPLICATION_CREDENTIAL_SECRET", &c.AppCredentialSecret},
	}
}

// loadCredentials reads the credentials: from the JSON file named by
// OPENSTACK_APPLICATION_CREDENTIALS_JSON, else from the directory named by
// OPENSTACK_APPLICATION_CREDENTIALS, else from the OS_* variables. fromFiles
// reports whether they came from files, which can change while running.
func loadCredentials(getenv func(string) string) (c credentials, fromFiles bool, err error) {
	switch {
	case getenv(credentialsJSONEnv) != "":
		c, err = readCredentialsJSON(getenv(credentialsJSONEnv))
		fromFiles = true
	case getenv(credentialsDirEnv) != "":
		c, err = readCredentialsDir(getenv(credentialsDirEnv))
		fromFiles = true
	default:
		for _, f := range envFields(&c) {
			if v := getenv(f.name); v != "" {
				*f.dst = v
			}
		}
		c.source = "the OS_* environment variables"
	}
	if err != nil {
		return credentials{}, fromFiles, err
	}
	// The OS_* variables that the files have no field for still apply.
	if fromFiles && c.AuthVersion == "" {
		c.AuthVersion = getenv("OS_AUTH_VERSION")
	}
	if err := c.validate(); err != nil {
		return credentials{}, fromFiles, err
	}
	return c, fromFiles, nil
}

func readCredentialsJSON(path string) (credentials, error) {
	c := credentials{source: fmt.Sprintf("the file %s (%s)", path, credentialsJSONEnv)}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("%w: reading %s: %w", ErrCredentials, c.source, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		// The JSON error names a position, never the content.
		return c, fmt.Errorf("%w: %s is not a JSON object: %w", ErrCredentials, c.source, err)
	}
	fields := credentialFields(&c)
	for name, v := range raw {
		dst, ok := fields[name]
		if !ok {
			continue // e.g. bucketName, authType: not needed here
		}
		s, ok := v.(string)
		if !ok {
			return c, fmt.Errorf("%w: %s: field %q must be a string", ErrCredentials, c.source, name)
		}
		*dst = strings.TrimSpace(s)
	}
	return c, nil
}

func readCredentialsDir(dir string) (credentials, error) {
	c := credentials{source: fmt.Sprintf("the directory %s (%s)", dir, credentialsDirEnv)}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return c, fmt.Errorf("%w: %s: %w", ErrCredentials, c.source, err)
	}
	for name, dst := range credentialFields(&c) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("%w: %s: %w", ErrCredentials, c.source, err)
		}
		// Secrets mounted from Kubernetes have no newline; files written by
		// hand usually do.
		*dst = strings.TrimSpace(string(b))
	}
	return c, nil
}

// validate checks that the credentials are complete enough to try, naming
// what is missing; it never repeats a value other than the auth URL.
func (c credentials) validate() error {
	missing := func(what string) error {
		return fmt.Errorf("%w: %s: %s", ErrCredentials, c.source, what)
	}
	if c.AuthURL == "" {
		return missing("no auth URL (OS_AUTH_URL, or the authURL field)")
	}
	u, err := url.Parse(c.AuthURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return missing(fmt.Sprintf("auth URL %q is not an http(s) URL", redactURL(c.AuthURL)))
	}
	if u.User != nil {
		return missing("the auth URL must not hold credentials")
	}
	if c.v1() {
		if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/auth/v1.0") {
			return missing(fmt.Sprintf("v1 auth needs an auth URL ending in /auth/v1.0, not %q", redactURL(c.AuthURL)))
		}
		if c.Username == "" || c.Password == "" {
			return missing("v1 auth needs a user name (OS_USERNAME, as account:user) and a key (OS_PASSWORD)")
		}
		return nil
	}
	appCred := c.AppCredentialID != "" || c.AppCredentialName != ""
	switch {
	case appCred && c.AppCredentialSecret == "":
		return missing("an application credential needs its secret (OS_APPLICATION_CREDENTIAL_SECRET, or applicationCredentialSecret)")
	case c.AppCredentialName != "" && c.AppCredentialID == "" && c.Username == "" && c.UserID == "":
		return missing("an application credential given by name needs its user (OS_USERNAME or OS_USERID)")
	case !appCred && c.Username == "" && c.UserID == "":
		return missing("no user (OS_USERNAME, OS_USERID or the username field) and no application credential")
	case !appCred && c.Password == "":
		return missing("no password (OS_PASSWORD or the password field)")
	}
	return nil
}

// v1 reports whether to use v1 auth (tempauth, swauth) rather than Keystone:
// when asked for, or when the auth URL is a v1 one.
func (c credentials) v1() bool {
	switch c.AuthVersion {
	case "1", "1.0":
		return true
	case "":
		u, err := url.Parse(c.AuthURL)
		return err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/v1.0")
	}
	return false
}

// v1User is the v1 user name "account:user"; a bare user name is qualified
// with the project (tenant) name when one is given.
func (c credentials) v1User() string {
	if !strings.Contains(c.Username, ":") && c.ProjectName != "" {
		return c.ProjectName + ":" + c.Username
	}
	return c.Username
}

// redactURL drops user info and the query from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}
