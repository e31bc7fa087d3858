package gcs

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"etcdbrctl/providers"
)

// clientOptions picks the endpoint and the credentials:
//   - STORAGE_EMULATOR_HOST: the SDK talks to the emulator without credentials;
//   - an http:// endpoint: no credentials, which would travel in clear text;
//   - a credentials file (Options.CredentialsFile or
//     GOOGLE_APPLICATION_CREDENTIALS): its credentials, re-read when it changes;
//   - otherwise the SDK's application-default credentials.
func clientOptions(loc providers.Location, opts Options) ([]option.ClientOption, error) {
	var out []option.ClientOption
	endpoint, err := jsonEndpoint(loc.Query.Get("endpoint"))
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		out = append(out, option.WithEndpoint(endpoint))
	}
	switch {
	case os.Getenv("STORAGE_EMULATOR_HOST") != "":
		return out, nil
	case strings.HasPrefix(endpoint, "http://"):
		return append(out, option.WithoutAuthentication()), nil
	}
	file := opts.CredentialsFile
	if file == "" {
		file = os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	if file == "" {
		return out, nil
	}
	tp, err := newFileTokenProvider(file, []string{storage.ScopeFullControl})
	if err != nil {
		return nil, err
	}
	creds := auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: tp})
	return append(out, option.WithAuthCredentials(creds)), nil
}

// jsonEndpoint turns a server's base URL into the JSON API's endpoint:
// http://127.0.0.1:4443 becomes http://127.0.0.1:4443/storage/v1/.
func jsonEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New(`endpoint: want an http:// or https:// URL such as http://127.0.0.1:4443`)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("endpoint: want scheme://host[:port][/path] only, without user, query or fragment")
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/storage/v1"
	}
	u.Path = path + "/"
	return u.String(), nil
}
