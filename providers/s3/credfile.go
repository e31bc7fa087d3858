package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The variables naming credential files in the layout gardener's
// etcd-backup-restore reads, so that a secret mounted for it works here too.
const (
	envCredentialsDir  = "AWS_APPLICATION_CREDENTIALS"      // a directory, one file per field
	envCredentialsJSON = "AWS_APPLICATION_CREDENTIALS_JSON" // one JSON file
)

// fileCredentials are the fields of a credential file. Only the two keys are
// required; region, endpoint and path style may come from the store URL.
type fileCredentials struct {
	AccessKeyID      string `json:"accessKeyID"`
	SecretAccessKey  string `json:"secretAccessKey"`
	Region           string `json:"region"`
	Endpoint         string `json:"endpoint"`
	S3ForcePathStyle *bool  `json:"s3ForcePathStyle"`

	// Settings this store does not implement. They are refused when set,
	// not ignored: each changes what the user expects of the connection.
	SSECustomerKey       *string `json:"sseCustomerKey"`
	SSECustomerAlgorithm *string `json:"sseCustomerAlgorithm"`
	InsecureSkipVerify   *bool   `json:"insecureSkipVerify"`
	TrustedCaCert        *string `json:"trustedCaCert"`
}

// credentialSource is a credential file or directory named by the environment.
type credentialSource struct {
	env  string // the variable that named it
	path string
	dir  bool
}

// credentialSourceFromEnv finds the credential file the environment names;
// the JSON file wins when both are set. ok is false when neither is set.
func credentialSourceFromEnv(getenv func(string) string) (src credentialSource, ok bool) {
	if p := getenv(envCredentialsJSON); p != "" {
		return credentialSource{env: envCredentialsJSON, path: p}, true
	}
	if p := getenv(envCredentialsDir); p != "" {
		return credentialSource{env: envCredentialsDir, path: p, dir: true}, true
	}
	return credentialSource{}, false
}

func (c credentialSource) String() string {
	if c.dir {
		return fmt.Sprintf("credential directory %q (%s)", c.path, c.env)
	}
	return fmt.Sprintf("credential file %q (%s)", c.path, c.env)
}

// dirFields are the file names a credential directory may hold.
var dirFields = []string{
	"accessKeyID", "secretAccessKey", "region", "endpoint", "s3ForcePathStyle",
	"sseCustomerKey", "sseCustomerAlgorithm", "insecureSkipVerify", "trustedCaCert",
}

// read reads and checks the credentials. Errors name the file and the field,
// never a value.
func (c credentialSource) read() (fileCredentials, error) {
	var fc fileCredentials
	var err error
	if c.dir {
		fc, err = readCredentialDir(c.path)
	} else {
		fc, err = readCredentialJSON(c.path)
	}
	if err != nil {
		return fileCredentials{}, fmt.Errorf("%s: %w", c, err)
	}
	if err := fc.check(); err != nil {
		return fileCredentials{}, fmt.Errorf("%s: %w", c, err)
	}
	return fc, nil
}

func readCredentialJSON(path string) (fileCredentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fileCredentials{}, err
	}
	var fc fileCredentials
	if err := json.Unmarshal(b, &fc); err != nil {
		// encoding/json's messages name types and fields, not the input.
		return fileCredentials{}, fmt.Errorf("not valid JSON: %w", err)
	}
	fc.AccessKeyID = strings.TrimSpace(fc.AccessKeyID)
	fc.SecretAccessKey = strings.TrimSpace(fc.SecretAccessKey)
	fc.Region = strings.TrimSpace(fc.Region)
	fc.Endpoint = strings.TrimSpace(fc.Endpoint)
	return fc, nil
}

func readCredentialDir(dir string) (fileCredentials, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return fileCredentials{}, err
	}
	if !info.IsDir() {
		return fileCredentials{}, errors.New("not a directory")
	}
	var fc fileCredentials
	for _, name := range dirFields {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fileCredentials{}, fmt.Errorf("%s: %w", name, err)
		}
		// Secrets written with echo or an editor end in a newline.
		v := strings.TrimSpace(string(b))
		switch name {
		case "accessKeyID":
			fc.AccessKeyID = v
		case "secretAccessKey":
			fc.SecretAccessKey = v
		case "region":
			fc.Region = v
		case "endpoint":
			fc.Endpoint = v
		case "s3ForcePathStyle":
			if fc.S3ForcePathStyle, err = parseBoolField(name, v); err != nil {
				return fileCredentials{}, err
			}
		case "insecureSkipVerify":
			if fc.InsecureSkipVerify, err = parseBoolField(name, v); err != nil {
				return fileCredentials{}, err
			}
		case "sseCustomerKey":
			fc.SSECustomerKey = &v
		case "sseCustomerAlgorithm":
			fc.SSECustomerAlgorithm = &v
		case "trustedCaCert":
			fc.TrustedCaCert = &v
		}
	}
	return fc, nil
}

func parseBoolField(name, v string) (*bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%s: want true or false", name)
	}
	return &b, nil
}

func (fc fileCredentials) check() error {
	var missing []string
	if fc.AccessKeyID == "" {
		missing = append(missing, "accessKeyID")
	}
	if fc.SecretAccessKey == "" {
		missing = append(missing, "secretAccessKey")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, " and "))
	}
	switch {
	case fc.SSECustomerKey != nil || fc.SSECustomerAlgorithm != nil:
		return errors.New("sseCustomerKey/sseCustomerAlgorithm (SSE-C) are not supported; remove them (backups can be encrypted with --encryption-recipient instead)")
	case fc.InsecureSkipVerify != nil && *fc.InsecureSkipVerify:
		return errors.New("insecureSkipVerify is not supported; give the server's CA with AWS_CA_BUNDLE instead")
	case fc.TrustedCaCert != nil:
		return errors.New("trustedCaCert is not supported; give the CA bundle file with AWS_CA_BUNDLE instead")
	}
	return nil
}

// stamp identifies the current content of the source's files by their
// identity, size and modification time, so that a change — rewritten in
// place, or replaced by a rename as Kubernetes does for mounted secrets —
// is noticed without reading the secrets again.
func (c credentialSource) stamp() (string, error) {
	paths := []string{c.path}
	if c.dir {
		paths = paths[:0]
		for _, name := range dirFields {
			paths = append(paths, filepath.Join(c.path, name))
		}
	}
	var b strings.Builder
	for _, p := range paths {
		info, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && c.dir:
			b.WriteString("-;")
			continue
		case err != nil:
			return "", fmt.Errorf("%s: %w", c, err)
		}
		var dev, ino uint64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			dev, ino = uint64(st.Dev), st.Ino
		}
		fmt.Fprintf(&b, "%d:%d:%d:%d;", dev, ino, info.Size(), info.ModTime().UnixNano())
	}
	return b.String(), nil
}

// rotatingCredentials provides the keys of a credential source and reads it
// again whenever its files change, so that rotated secrets are used without
// a restart. The SDK caches what Retrieve returns until it expires; the
// short expiry makes it ask again within recheck.
type rotatingCredentials struct {
	source  credentialSource
	recheck time.Duration

	mu     sync.Mutex
	stamp  string
	creds  aws.Credentials
	loaded bool
}

var _ aws.CredentialsProvider = (*rotatingCredentials)(nil)

func newRotatingCredentials(source credentialSource, recheck time.Duration) *rotatingCredentials {
	return &rotatingCredentials{source: source, recheck: recheck}
}

// Retrieve returns the keys the source holds now. While a changed source
// cannot be read (a half-written file, a field removed), the last keys read
// stay in use and the source is tried again at the next check; with no good
// read yet, the error is returned.
func (p *rotatingCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stamp, err := p.source.stamp()
	if err == nil && (!p.loaded || stamp != p.stamp) {
		var fc fileCredentials
		if fc, err = p.source.read(); err == nil {
			p.creds = aws.Credentials{
				AccessKeyID:     fc.AccessKeyID,
				SecretAccessKey: fc.SecretAccessKey,
				Source:          p.source.env,
			}
			p.stamp, p.loaded = stamp, true
		}
	}
	if err != nil && !p.loaded {
		return aws.Credentials{}, err
	}
	creds := p.creds
	creds.CanExpire = true
	creds.Expires = time.Now().Add(p.recheck)
	return creds, nil
}
