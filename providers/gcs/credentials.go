package gcs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
)

// fileTokenProvider hands out tokens of the credentials in a file and reads
// the file again whenever its modification time or size changes, so that a
// rotated key (a new Kubernetes secret, say) works without a restart.
type fileTokenProvider struct {
	path   string
	scopes []string

	mu      sync.Mutex
	stamp   fileStamp
	current auth.TokenProvider
}

type fileStamp struct {
	modTime time.Time
	size    int64
}

// newFileTokenProvider reads path once, so that a wrong file is reported at
// start rather than at the first request.
func newFileTokenProvider(path string, scopes []string) (*fileTokenProvider, error) {
	p := &fileTokenProvider{path: path, scopes: scopes}
	if _, err := p.provider(); err != nil {
		return nil, err
	}
	return p, nil
}

// Token implements auth.TokenProvider.
func (p *fileTokenProvider) Token(ctx context.Context) (*auth.Token, error) {
	tp, err := p.provider()
	if err != nil {
		return nil, err
	}
	tok, err := tp.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("GCS credentials file %s: %w", p.path, err)
	}
	return tok, nil
}

// provider returns the credentials of the file as it is now. While the file
// is missing or unreadable (a rotation half done), the credentials read last
// stay in use, and the file is tried again at the next call.
func (p *fileTokenProvider) provider() (auth.TokenProvider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := os.Stat(p.path)
	if err != nil {
		if p.current != nil {
			return p.current, nil
		}
		return nil, fmt.Errorf("GCS credentials file: %w", err)
	}
	stamp := fileStamp{modTime: st.ModTime(), size: st.Size()}
	if p.current != nil && stamp == p.stamp {
		return p.current, nil
	}
	creds, err := readCredentialsFile(p.path, p.scopes)
	if err != nil {
		if p.current != nil {
			return p.current, nil
		}
		return nil, err
	}
	p.current, p.stamp = creds, stamp
	return creds, nil
}

// credentialTypes are the file types the auth library reads; the file is
// the operator's own, so any of them is accepted.
var credentialTypes = map[string]credentials.CredType{
	string(credentials.ServiceAccount):                credentials.ServiceAccount,
	string(credentials.AuthorizedUser):                credentials.AuthorizedUser,
	string(credentials.ExternalAccount):               credentials.ExternalAccount,
	string(credentials.ImpersonatedServiceAccount):    credentials.ImpersonatedServiceAccount,
	string(credentials.ExternalAccountAuthorizedUser): credentials.ExternalAccountAuthorizedUser,
	string(credentials.GDCHServiceAccount):            credentials.GDCHServiceAccount,
}

// readCredentialsFile loads a Google credentials JSON file. Its errors name
// the file but never repeat its content.
func readCredentialsFile(path string, scopes []string) (*auth.Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("GCS credentials file: %w", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("GCS credentials file %s: not a JSON object", path)
	}
	credType, ok := credentialTypes[head.Type]
	if !ok {
		return nil, fmt.Errorf("GCS credentials file %s: unsupported \"type\" %q (want e.g. %q)", path, head.Type, credentials.ServiceAccount)
	}
	creds, err := credentials.NewCredentialsFromJSON(credType, b, &credentials.DetectOptions{Scopes: scopes})
	if err != nil {
		return nil, fmt.Errorf("GCS credentials file %s: %w", path, err)
	}
	return creds, nil
}
