package gcs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer is an OAuth token endpoint on 127.0.0.1 that grants a token
// naming the service account that signed the request's JWT assertion.
type tokenServer struct {
	*httptest.Server
	requests atomic.Int32
}

func startTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.requests.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		if len(parts) != 3 {
			http.Error(w, "no JWT assertion", http.StatusBadRequest)
			return
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var claims struct {
			Iss string `json:"iss"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": "token-for-" + claims.Iss, "token_type": "Bearer", "expires_in": 3600,
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func serviceAccountJSON(t *testing.T, email, tokenURI string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "test-project",
		"private_key_id": "key-" + email,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeFile replaces path's content and moves its modification time on, as
// a rotation would even within one clock tick.
func writeFile(t *testing.T, path string, content []byte, step int) {
	t.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	mod := time.Now().Add(time.Duration(step) * time.Second)
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestCredentialsFile(t *testing.T) {
	ts := startTokenServer(t)
	valid := serviceAccountJSON(t, "a@test", ts.URL)
	tests := []struct {
		name    string
		content []byte // nil: no file
		want    string // part of the error; empty for success
	}{
		{"service account", valid, ""},
		{"missing file", nil, "no such file"},
		{"not JSON", []byte("-----BEGIN PRIVATE KEY-----\nsecret-material"), "not a JSON object"},
		{"unknown type", []byte(`{"type":"api_key","key":"secret-material"}`), `unsupported "type" "api_key"`},
		{"no type", []byte(`{"private_key":"secret-material"}`), `unsupported "type" ""`},
		{"bad private key", []byte(`{"type":"service_account","client_email":"a@test","private_key":"secret-material","token_uri":"` + ts.URL + `"}`), "GCS credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "creds.json")
			if tt.content != nil {
				writeFile(t, path, tt.content, 0)
			}
			p, err := newFileTokenProvider(path, []string{"scope"})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("newFileTokenProvider: %v", err)
				}
				tok, err := p.Token(t.Context())
				if err != nil || tok.Value != "token-for-a@test" {
					t.Fatalf("Token() = %v, %v; want token-for-a@test", tok, err)
				}
				return
			}
			if err == nil {
				// Some malformed keys surface only when a token is asked for.
				_, err = p.Token(t.Context())
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-material") {
				t.Errorf("error %q repeats the file's content", err)
			}
		})
	}
}

// A rotated credentials file takes effect at the next token without a
// restart; a file half rotated (missing or invalid) keeps the last good one.
func TestFileTokenProviderReloads(t *testing.T) {
	ts := startTokenServer(t)
	path := filepath.Join(t.TempDir(), "creds.json")
	writeFile(t, path, serviceAccountJSON(t, "first@test", ts.URL), 0)
	p, err := newFileTokenProvider(path, []string{"scope"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change func(step int)
		want   string
	}{
		{"first token", func(int) {}, "token-for-first@test"},
		{"unchanged file", func(int) {}, "token-for-first@test"},
		{"rotated", func(step int) { writeFile(t, path, serviceAccountJSON(t, "second@test", ts.URL), step) }, "token-for-second@test"},
		{"removed", func(int) { os.Remove(path) }, "token-for-second@test"},
		{"half written", func(step int) { writeFile(t, path, []byte(`{"type":"serv`), step) }, "token-for-second@test"},
		{"rotated again", func(step int) { writeFile(t, path, serviceAccountJSON(t, "third@test", ts.URL), step) }, "token-for-third@test"},
	}
	for i, step := range steps {
		step.change(i)
		tok, err := p.Token(t.Context())
		if err != nil {
			t.Fatalf("%s: Token: %v", step.name, err)
		}
		if tok.Value != step.want {
			t.Errorf("%s: token %q, want %q", step.name, tok.Value, step.want)
		}
	}
	// Tokens are cached: one request per credential actually used.
	if got := ts.requests.Load(); got != 3 {
		t.Errorf("token endpoint saw %d requests, want 3", got)
	}
}

// New reports a credentials file it cannot use, before any request.
func TestNewWithCredentialsFile(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	ts := startTokenServer(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, serviceAccountJSON(t, "a@test", ts.URL), 0)
	tests := []struct {
		name, file, want string
	}{
		{"usable file", good, ""},
		{"missing file", filepath.Join(dir, "missing.json"), "GCS credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", tt.file)
			s, err := New(t.Context(), mustParse(t, "gs://b/p"), Options{})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
