package azblob

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"etcdbrctl/providers"
)

const defaultDomain = "blob.core.windows.net"

// clientCache holds the container client. With credentials from files it
// builds a new client whenever the files change, so that a rotated key
// works without a restart; otherwise the client is built once.
type clientCache struct {
	container string
	account   string // from the URL; may be empty
	endpoint  string // service URL from the URL; may be empty
	options   *container.ClientOptions
	source    *credentialSource // nil: credentials that do not change

	mu     sync.Mutex
	stamp  string
	client *container.Client
}

func newClientCache(loc providers.Location, opts Options) (*clientCache, error) {
	endpoint, err := checkEndpoint(loc.Query.Get("endpoint"))
	if err != nil {
		return nil, err
	}
	c := &clientCache{
		container: loc.Bucket,
		account:   loc.Query.Get("account"),
		endpoint:  endpoint,
		options: &container.ClientOptions{ClientOptions: azcore.ClientOptions{
			Retry: policy.RetryOptions{
				MaxRetries:    opts.MaxRetries,
				RetryDelay:    200 * time.Millisecond,
				MaxRetryDelay: 5 * time.Second,
			},
		}},
	}
	if src, ok := credentialSourceFromEnv(); ok {
		c.source = &src
		if _, err := c.get(); err != nil {
			return nil, err
		}
		return c, nil
	}
	if c.client, err = c.staticClient(); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns the client for the credentials as they are now. While the
// files cannot be read (a rotation half done), the last good client stays
// in use and the files are tried again at the next call.
func (c *clientCache) get() (*container.Client, error) {
	if c.source == nil {
		return c.client, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp, err := c.source.stamp()
	if err == nil && c.client != nil && stamp == c.stamp {
		return c.client, nil
	}
	var client *container.Client
	if err == nil {
		client, err = c.fileClient()
	}
	if err != nil {
		if c.client != nil {
			return c.client, nil
		}
		return nil, err
	}
	c.client, c.stamp = client, stamp
	return client, nil
}

func (c *clientCache) fileClient() (*container.Client, error) {
	creds, err := c.source.read()
	if err != nil {
		return nil, err
	}
	if c.account != "" && c.account != creds.StorageAccount {
		return nil, fmt.Errorf("account %q in the URL differs from storageAccount %q in %s", c.account, creds.StorageAccount, c.source.env)
	}
	service := c.endpoint
	switch {
	case service != "":
	case creds.EmulatorEnabled:
		service = "http://" + creds.Domain + "/" + creds.StorageAccount
	default:
		domain := creds.Domain
		if domain == "" {
			domain = defaultDomain
		}
		service = "https://" + creds.StorageAccount + "." + domain
	}
	return c.sharedKeyClient(service, creds.StorageAccount, creds.StorageKey, c.source.env)
}

// staticClient uses, in order: AZURE_STORAGE_CONNECTION_STRING; a shared key
// from AZURE_STORAGE_KEY; Azure's default credential chain.
func (c *clientCache) staticClient() (*container.Client, error) {
	if cs := os.Getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
		return c.connectionStringClient(cs)
	}
	account, err := c.accountFromEnv()
	if err != nil {
		return nil, err
	}
	if key := os.Getenv("AZURE_STORAGE_KEY"); key != "" {
		if account == "" {
			return nil, errors.New("AZURE_STORAGE_KEY is set but no account is named: add ?account=NAME or set AZURE_STORAGE_ACCOUNT")
		}
		return c.sharedKeyClient(c.serviceURL(account), account, key, "AZURE_STORAGE_KEY")
	}
	if account == "" {
		return nil, errors.New("no storage account: add ?account=NAME to the URL or set AZURE_STORAGE_ACCOUNT")
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("Azure default credential: %w", err)
	}
	return container.NewClient(c.containerURL(c.serviceURL(account)), cred, c.options)
}

func (c *clientCache) accountFromEnv() (string, error) {
	env := os.Getenv("AZURE_STORAGE_ACCOUNT")
	switch {
	case c.account == "":
		return env, nil
	case env != "" && env != c.account:
		return "", fmt.Errorf("account %q in the URL differs from AZURE_STORAGE_ACCOUNT %q", c.account, env)
	}
	return c.account, nil
}

func (c *clientCache) connectionStringClient(cs string) (*container.Client, error) {
	if c.endpoint != "" {
		return nil, errors.New("endpoint= cannot be combined with AZURE_STORAGE_CONNECTION_STRING, which names its own endpoint")
	}
	if name := connectionStringAccount(cs); c.account != "" && name != "" && name != c.account {
		return nil, fmt.Errorf("account %q in the URL differs from AccountName %q in AZURE_STORAGE_CONNECTION_STRING", c.account, name)
	}
	client, err := container.NewClientFromConnectionString(cs, c.container, c.options)
	if err != nil {
		// The SDK's message may quote the string, which holds the key.
		return nil, errors.New("AZURE_STORAGE_CONNECTION_STRING is malformed")
	}
	return client, nil
}

func connectionStringAccount(cs string) string {
	for part := range strings.SplitSeq(cs, ";") {
		if name, value, ok := strings.Cut(part, "="); ok && strings.EqualFold(strings.TrimSpace(name), "AccountName") {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

func (c *clientCache) sharedKeyClient(service, account, key, from string) (*container.Client, error) {
	cred, err := container.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, fmt.Errorf("shared key from %s: the key is not valid base64", from)
	}
	return container.NewClientWithSharedKeyCredential(c.containerURL(service), cred, c.options)
}

func (c *clientCache) serviceURL(account string) string {
	if c.endpoint != "" {
		return c.endpoint
	}
	return "https://" + account + "." + defaultDomain
}

func (c *clientCache) containerURL(service string) string {
	return service + "/" + url.PathEscape(c.container)
}

// checkEndpoint accepts a service URL such as
// http://127.0.0.1:10000/devstoreaccount1 or https://acct.blob.core.windows.net.
func checkEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("endpoint: want an http:// or https:// service URL such as http://127.0.0.1:10000/devstoreaccount1")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("endpoint: want scheme://host[:port][/path] only, without user, query or fragment")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}
