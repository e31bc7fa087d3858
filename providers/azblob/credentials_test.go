package azblob

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

const secretValue = "c2VjcmV0LXZhbHVlLXNlY3JldC12YWx1ZQ=="

func TestReadCredentialFiles(t *testing.T) {
	tests := []struct {
		name  string
		isDir bool
		files map[string]string // for a directory: file name → content; else "" → content
		want  fileCredentials
		err   string
	}{
		{
			name:  "json, all fields",
			files: map[string]string{"": `{"storageAccount":"acct","storageKey":"` + secretValue + `","domain":"127.0.0.1:10000","emulatorEnabled":true}`},
			want:  fileCredentials{StorageAccount: "acct", StorageKey: secretValue, Domain: "127.0.0.1:10000", EmulatorEnabled: true},
		},
		{
			name:  "json, account and key",
			files: map[string]string{"": `{"storageAccount":"acct","storageKey":"` + secretValue + `","bucketName":"ignored"}`},
			want:  fileCredentials{StorageAccount: "acct", StorageKey: secretValue},
		},
		{name: "json, no key", files: map[string]string{"": `{"storageAccount":"acct"}`}, err: "has no storageKey"},
		{name: "json, no account", files: map[string]string{"": `{"storageKey":"` + secretValue + `"}`}, err: "has no storageAccount"},
		{name: "json, malformed", files: map[string]string{"": `{"storageKey":"` + secretValue}, err: "is not a JSON object"},
		{name: "json, emulator without domain", files: map[string]string{"": `{"storageAccount":"a","storageKey":"` + secretValue + `","emulatorEnabled":true}`}, err: "gives no domain"},
		{name: "json, missing file", err: "no such file"},
		{
			name:  "directory, trailing newlines",
			isDir: true,
			files: map[string]string{"storageAccount": "acct\n", "storageKey": secretValue + "\n"},
			want:  fileCredentials{StorageAccount: "acct", StorageKey: secretValue},
		},
		{
			name:  "directory, emulator",
			isDir: true,
			files: map[string]string{"storageAccount": "acct", "storageKey": secretValue, "domain": "127.0.0.1:10000", "emulatorEnabled": "true"},
			want:  fileCredentials{StorageAccount: "acct", StorageKey: secretValue, Domain: "127.0.0.1:10000", EmulatorEnabled: true},
		},
		{name: "directory, no key", isDir: true, files: map[string]string{"storageAccount": "acct"}, err: "has no storageKey"},
		{name: "directory, bad flag", isDir: true, files: map[string]string{"storageAccount": "acct", "storageKey": secretValue, "emulatorEnabled": "yes"}, err: "want true or false"},
		{name: "directory, missing", isDir: true, err: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "creds")
			if tt.files != nil {
				if tt.isDir {
					if err := os.Mkdir(path, 0o700); err != nil {
						t.Fatal(err)
					}
				}
				for name, content := range tt.files {
					if err := os.WriteFile(filepath.Join(path, name), []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			src := credentialSource{env: "TEST_ENV", path: path, isDir: tt.isDir}
			got, err := src.read()
			if tt.err == "" {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if got != tt.want {
					t.Fatalf("read = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("read = %v, want an error containing %q", err, tt.err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

// credentialWriter writes the development account's credentials the way a
// mounted secret holds them, as a JSON file or as a directory.
type credentialWriter struct {
	t     *testing.T
	path  string
	isDir bool
	step  int
}

func (w *credentialWriter) write(creds fileCredentials) {
	w.t.Helper()
	w.step++
	if !w.isDir {
		b, err := json.Marshal(creds)
		if err != nil {
			w.t.Fatal(err)
		}
		w.writeFile(w.path, string(b))
		return
	}
	if err := os.MkdirAll(w.path, 0o700); err != nil {
		w.t.Fatal(err)
	}
	w.writeFile(filepath.Join(w.path, "storageAccount"), creds.StorageAccount)
	w.writeFile(filepath.Join(w.path, "storageKey"), creds.StorageKey)
	w.writeFile(filepath.Join(w.path, "domain"), creds.Domain)
	w.writeFile(filepath.Join(w.path, "emulatorEnabled"), "true")
}

// writeHalf leaves the credentials unusable, as a rotation caught midway.
func (w *credentialWriter) writeHalf() {
	w.step++
	if w.isDir {
		w.writeFile(filepath.Join(w.path, "storageKey"), "")
	} else {
		w.writeFile(w.path, `{"storageAccount":`)
	}
}

// writeFile moves the modification time on by a second per write, so that
// a rotation within one clock tick is seen too.
func (w *credentialWriter) writeFile(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	mod := time.Now().Add(time.Duration(w.step) * time.Second)
	if err := os.Chtimes(path, mod, mod); err != nil {
		w.t.Fatal(err)
	}
}

// A rotated key in the credential files takes effect at the next request,
// without a new Store; a half-written rotation keeps the last good key.
func TestCredentialFilesReload(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	good := fileCredentials{
		StorageAccount: testserver.AzuriteAccount, StorageKey: testserver.AzuriteKey,
		Domain: srv.Addr, EmulatorEnabled: true,
	}
	wrong := good
	wrong.StorageKey = secretValue
	for _, kind := range []struct {
		env   string
		isDir bool
	}{{"AZURE_APPLICATION_CREDENTIALS_JSON", false}, {"AZURE_APPLICATION_CREDENTIALS", true}} {
		t.Run(kind.env, func(t *testing.T) {
			clearCredentialEnv(t)
			w := &credentialWriter{t: t, path: filepath.Join(t.TempDir(), "creds"), isDir: kind.isDir}
			t.Setenv(kind.env, w.path)
			w.write(wrong)
			// No endpoint: the service URL comes from domain and emulatorEnabled.
			loc, err := providers.ParseURL("azblob://backups/" + strings.ToLower(kind.env))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), loc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				name   string
				change func()
				want   error
			}{
				{"wrong key", func() {}, providers.ErrPermission},
				{"rotated to the right key", func() { w.write(good) }, nil},
				{"half-written rotation", w.writeHalf, nil},
				{"rotated to a wrong key", func() { w.write(wrong) }, providers.ErrPermission},
				{"rotated back", func() { w.write(good) }, nil},
			}
			for _, step := range steps {
				step.change()
				_, err := s.List(t.Context(), "")
				if step.want == nil && err != nil || step.want != nil && !errors.Is(err, step.want) {
					t.Fatalf("%s: List = %v, want %v", step.name, err, step.want)
				}
			}
		})
	}
}

// The credential sources the environment can name, in their order, and the
// clear errors for combinations that contradict each other.
func TestCredentialSources(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	acct := testserver.AzuriteAccount
	connString := "DefaultEndpointsProtocol=http;AccountName=" + acct + ";AccountKey=" + testserver.AzuriteKey +
		";BlobEndpoint=" + srv.Endpoint + ";"
	jsonFile := filepath.Join(t.TempDir(), "creds.json")
	b, err := json.Marshal(fileCredentials{StorageAccount: acct, StorageKey: testserver.AzuriteKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jsonFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	withEndpoint := "&endpoint=" + srv.Endpoint
	tests := []struct {
		name string
		env  map[string]string
		url  string
		err  string // empty: List must succeed
	}{
		{"connection string", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": connString}, "azblob://backups/p", ""},
		{"connection string, same account", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": connString}, "azblob://backups/p?account=" + acct, ""},
		{"connection string, other account", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": connString}, "azblob://backups/p?account=other", `differs from AccountName`},
		{"connection string and endpoint", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": connString}, "azblob://backups/p?account=" + acct + withEndpoint, "cannot be combined"},
		{"malformed connection string", map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "AccountKey=" + secretValue}, "azblob://backups/p", "malformed"},
		{"unknown parameter", map[string]string{"AZURE_STORAGE_ACCOUNT": acct, "AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?x=1" + withEndpoint, `unknown parameter "x"`},
		{"account from env", map[string]string{"AZURE_STORAGE_ACCOUNT": acct, "AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?" + withEndpoint[1:], ""},
		{"account from URL", map[string]string{"AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?account=" + acct + withEndpoint, ""},
		{"accounts differ", map[string]string{"AZURE_STORAGE_ACCOUNT": "other", "AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?account=" + acct + withEndpoint, "differs from AZURE_STORAGE_ACCOUNT"},
		{"key without account", map[string]string{"AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?" + withEndpoint[1:], "no account is named"},
		{"key not base64", map[string]string{"AZURE_STORAGE_KEY": "not base64!"}, "azblob://backups/p?account=" + acct + withEndpoint, "not valid base64"},
		{"no credentials, no account", nil, "azblob://backups/p", "no storage account"},
		{"file before the rest", map[string]string{"AZURE_APPLICATION_CREDENTIALS_JSON": jsonFile, "AZURE_STORAGE_KEY": secretValue}, "azblob://backups/p?account=" + acct + withEndpoint, ""},
		{"file, other account", map[string]string{"AZURE_APPLICATION_CREDENTIALS_JSON": jsonFile}, "azblob://backups/p?account=other" + withEndpoint, "differs from storageAccount"},
		{"bad endpoint", map[string]string{"AZURE_STORAGE_KEY": testserver.AzuriteKey}, "azblob://backups/p?account=" + acct + "&endpoint=ftp://x", "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearCredentialEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			loc, err := providers.ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(t.Context(), loc, Options{})
			if err == nil {
				_, err = s.List(t.Context(), "")
			}
			if tt.err == "" {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("got %v, want an error containing %q", err, tt.err)
			}
			if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), testserver.AzuriteKey) {
				t.Errorf("error %q shows a key", err)
			}
		})
	}
}
