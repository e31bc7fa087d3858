package azblob

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileCredentials are the fields of the Azure credential files that
// gardener's etcd-backup-restore reads: a JSON file
// (AZURE_APPLICATION_CREDENTIALS_JSON) or a directory with one file per
// field (AZURE_APPLICATION_CREDENTIALS).
type fileCredentials struct {
	StorageAccount  string `json:"storageAccount"`
	StorageKey      string `json:"storageKey"`
	Domain          string `json:"domain,omitempty"`
	EmulatorEnabled bool   `json:"emulatorEnabled,omitempty"`
}

// credentialFields are the names of the files in a credentials directory.
var credentialFields = []string{"storageAccount", "storageKey", "domain", "emulatorEnabled"}

// credentialSource is a credentials file or directory, named by env.
type credentialSource struct {
	env   string
	path  string
	isDir bool
}

// stamp changes whenever a file the credentials come from changes. Files are
// followed through symbolic links, as Kubernetes swaps a secret's files by
// swapping a link.
func (c credentialSource) stamp() (string, error) {
	if !c.isDir {
		return fileStamp(c.path)
	}
	if _, err := os.Stat(c.path); err != nil {
		return "", fmt.Errorf("%s: %w", c.env, err)
	}
	var b strings.Builder
	for _, name := range credentialFields {
		s, err := fileStamp(filepath.Join(c.path, name))
		if errors.Is(err, os.ErrNotExist) {
			s = "absent"
		} else if err != nil {
			return "", fmt.Errorf("%s: %w", c.env, err)
		}
		b.WriteString(name + "=" + s + ";")
	}
	return b.String(), nil
}

func fileStamp(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(st.ModTime().UnixNano(), 10) + "/" + strconv.FormatInt(st.Size(), 10), nil
}

// read loads the credentials. Errors name the file and the field at fault
// but never repeat a value.
func (c credentialSource) read() (fileCredentials, error) {
	var creds fileCredentials
	if c.isDir {
		if _, err := os.Stat(c.path); err != nil {
			return creds, fmt.Errorf("%s: %w", c.env, err)
		}
		values := make(map[string]string)
		for _, name := range credentialFields {
			b, err := os.ReadFile(filepath.Join(c.path, name))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return creds, fmt.Errorf("%s: %w", c.env, err)
			}
			values[name] = strings.TrimSpace(string(b))
		}
		creds.StorageAccount, creds.StorageKey, creds.Domain = values["storageAccount"], values["storageKey"], values["domain"]
		if v, ok := values["emulatorEnabled"]; ok {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return creds, fmt.Errorf("%s: file emulatorEnabled in %s: want true or false", c.env, c.path)
			}
			creds.EmulatorEnabled = on
		}
	} else {
		b, err := os.ReadFile(c.path)
		if err != nil {
			return creds, fmt.Errorf("%s: %w", c.env, err)
		}
		if err := json.Unmarshal(b, &creds); err != nil {
			return creds, fmt.Errorf("%s: %s is not a JSON object with string fields storageAccount, storageKey, domain and a boolean emulatorEnabled", c.env, c.path)
		}
		creds.StorageAccount = strings.TrimSpace(creds.StorageAccount)
		creds.StorageKey = strings.TrimSpace(creds.StorageKey)
		creds.Domain = strings.TrimSpace(creds.Domain)
	}
	switch {
	case creds.StorageAccount == "":
		return creds, fmt.Errorf("%s: %s has no storageAccount", c.env, c.path)
	case creds.StorageKey == "":
		return creds, fmt.Errorf("%s: %s has no storageKey", c.env, c.path)
	case creds.EmulatorEnabled && creds.Domain == "":
		return creds, fmt.Errorf("%s: %s enables the emulator but gives no domain (host:port)", c.env, c.path)
	}
	return creds, nil
}

// credentialSourceFromEnv returns the credentials file or directory the
// environment names, the JSON file first, as etcd-backup-restore does.
func credentialSourceFromEnv() (credentialSource, bool) {
	if p := os.Getenv("AZURE_APPLICATION_CREDENTIALS_JSON"); p != "" {
		return credentialSource{env: "AZURE_APPLICATION_CREDENTIALS_JSON", path: p}, true
	}
	if p := os.Getenv("AZURE_APPLICATION_CREDENTIALS"); p != "" {
		return credentialSource{env: "AZURE_APPLICATION_CREDENTIALS", path: p, isDir: true}, true
	}
	return credentialSource{}, false
}
