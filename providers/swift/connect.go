package swift

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/swauth"
)

// connector hands out an authenticated object-storage client. When the
// credentials come from files, it reads them again on every call and, when
// they changed (a rotated secret), authenticates anew with the new values.
type connector struct {
	getenv     func(string) string
	httpClient http.Client
	region     string // from the store URL; overrides the credentials' region

	mu        sync.Mutex
	fromFiles bool
	creds     credentials
	client    *gophercloud.ServiceClient
}

// get returns the client for the current credentials.
func (c *connector) get(ctx context.Context) (*gophercloud.ServiceClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil && !c.fromFiles {
		return c.client, nil
	}
	creds, fromFiles, err := loadCredentials(c.getenv)
	if err != nil {
		return nil, err
	}
	if c.client != nil && creds == c.creds {
		return c.client, nil
	}
	client, err := c.authenticate(ctx, creds)
	if err != nil {
		return nil, err
	}
	c.client, c.creds, c.fromFiles = client, creds, fromFiles
	return client, nil
}

func (c *connector) authenticate(ctx context.Context, creds credentials) (*gophercloud.ServiceClient, error) {
	var client *gophercloud.ServiceClient
	var err error
	if creds.v1() {
		client, err = c.authenticateV1(ctx, creds)
	} else {
		client, err = c.authenticateKeystone(ctx, creds)
	}
	if err != nil {
		return nil, fmt.Errorf("authenticating at %s with %s: %w", redactURL(creds.AuthURL), creds.source, classify(err))
	}
	return client, nil
}

// authenticateV1 gets a token and the storage URL from a v1 auth endpoint
// (tempauth, swauth). When the token expires, the client fetches a new one.
func (c *connector) authenticateV1(ctx context.Context, creds credentials) (*gophercloud.ServiceClient, error) {
	opts := swauth.AuthOpts{User: creds.v1User(), Key: creds.Password}
	base := strings.TrimSuffix(strings.TrimSuffix(creds.AuthURL, "/"), "auth/v1.0")
	// Authentication runs on a client of its own: a token request that
	// fails with 401 must not start a re-authentication from inside one.
	newAuthClient := func() *gophercloud.ProviderClient {
		return &gophercloud.ProviderClient{IdentityBase: base, IdentityEndpoint: creds.AuthURL, HTTPClient: c.httpClient}
	}
	pc := &gophercloud.ProviderClient{IdentityBase: base, IdentityEndpoint: creds.AuthURL, HTTPClient: c.httpClient}
	pc.UseTokenLock()
	client, err := swauth.NewObjectStorageV1(ctx, newAuthClient(), opts)
	if err != nil {
		return nil, err
	}
	pc.SetToken(client.TokenID)
	client.ProviderClient = pc
	pc.ReauthFunc = func(ctx context.Context) error {
		res, err := swauth.Auth(ctx, newAuthClient(), opts).Extract()
		if err != nil {
			return err
		}
		pc.SetToken(res.Token)
		return nil
	}
	return client, nil
}

// authenticateKeystone authenticates with Keystone (v3, or v2 when the URL
// says so) and finds the object-store endpoint in the catalog.
func (c *connector) authenticateKeystone(ctx context.Context, creds credentials) (*gophercloud.ServiceClient, error) {
	pc, err := openstack.NewClient(creds.AuthURL)
	if err != nil {
		return nil, err
	}
	pc.HTTPClient = c.httpClient
	if err := openstack.Authenticate(ctx, pc, keystoneOptions(creds)); err != nil {
		return nil, err
	}
	region := creds.Region
	if c.region != "" {
		region = c.region
	}
	return openstack.NewObjectStorageV1(pc, gophercloud.EndpointOpts{Region: region})
}

// keystoneOptions turns the credentials into gophercloud's options, with
// re-authentication allowed so that long runs outlive a token.
func keystoneOptions(c credentials) gophercloud.AuthOptions {
	userDomainName, userDomainID := first(c.UserDomainName, c.DomainName), first(c.UserDomainID, c.DomainID)
	if userDomainName != "" {
		userDomainID = "" // gophercloud refuses both
	}
	ao := gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL,
		Username:         c.Username,
		UserID:           c.UserID,
		Password:         c.Password,
		DomainName:       userDomainName,
		DomainID:         userDomainID,
		AllowReauth:      true,
	}
	if c.AppCredentialID != "" || c.AppCredentialName != "" {
		// An application credential carries its own project scope.
		ao.Password = ""
		ao.ApplicationCredentialID = c.AppCredentialID
		ao.ApplicationCredentialName = c.AppCredentialName
		ao.ApplicationCredentialSecret = c.AppCredentialSecret
		return ao
	}
	// Keystone v2 reads the tenant fields, v3 the scope.
	ao.TenantID, ao.TenantName = c.ProjectID, c.ProjectName
	switch {
	case c.ProjectID != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: c.ProjectID}
	case c.ProjectName != "":
		// The project's domain: its own, else the shared one, else the user's.
		name, id := c.ProjectDomainName, c.ProjectDomainID
		if name == "" && id == "" {
			name, id = c.DomainName, c.DomainID
		}
		if name == "" && id == "" {
			name, id = userDomainName, userDomainID
		}
		if name != "" {
			id = "" // a name and an ID together are refused
		}
		ao.Scope = &gophercloud.AuthScope{ProjectName: c.ProjectName, DomainName: name, DomainID: id}
	}
	return ao
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
