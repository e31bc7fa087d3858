package supervisor

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// read admits GET and HEAD only.
func (a *API) read(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: this endpoint only reads; use GET", r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// action admits a state-changing request: POST (GET too with
// AllowGetActions), carrying the bearer token when one is configured.
func (a *API) action(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
		case r.Method == http.MethodGet && a.Options.AllowGetActions:
		case r.Method == http.MethodGet:
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf(
				"GET %s: this endpoint changes state; use POST (or start the server with --allow-get-actions for old scripts)", r.URL.Path))
			return
		default:
			allow := http.MethodPost
			if a.Options.AllowGetActions {
				allow = "POST, GET"
			}
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, allow))
			return
		}
		if a.token != nil && !a.authorized(w, r) {
			return
		}
		h(w, r)
	})
}

// authorized checks the bearer token, writing the refusal when it fails.
func (a *API) authorized(w http.ResponseWriter, r *http.Request) bool {
	want, err := a.token.sum()
	if err != nil {
		// Fail closed: an unreadable token file admits nobody.
		a.log().Error("API token file cannot be read; refusing state-changing requests", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the API token file cannot be read; state-changing requests are refused until it can")
		return false
	}
	scheme, got, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(got) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="etcdbrctl"`)
		writeError(w, http.StatusUnauthorized, r.URL.Path+" needs the API token: send the header \"Authorization: Bearer <token>\"")
		return false
	}
	gotSum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="etcdbrctl", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "the API token is wrong")
		return false
	}
	return true
}

// clientCert refuses requests without a verified client certificate when
// the API requires one. The TLS listener verifies certificates that are
// given (so /healthz stays open to probes that have none); this checks
// that one was.
func (a *API) clientCert(h http.Handler) http.Handler {
	if !a.Options.ClientCertRequired {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeError(w, http.StatusUnauthorized, r.URL.Path+" needs a client certificate signed by the API's client CA")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *API) securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// tokenFile is the bearer token, read again whenever its file changes, so
// a rotated token takes effect without a restart.
type tokenFile struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	hash    [sha256.Size]byte
	loaded  bool
}

// sum returns the SHA-256 of the current token; comparing sums keeps the
// comparison's time independent of the token's length.
func (t *tokenFile) sum() ([sha256.Size]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	if t.loaded && fi.ModTime().Equal(t.modTime) && fi.Size() == t.size {
		return t.hash, nil
	}
	tok, err := ReadTokenFile(t.path)
	if err != nil {
		t.loaded = false
		return [sha256.Size]byte{}, err
	}
	t.hash = sha256.Sum256([]byte(tok))
	t.modTime, t.size, t.loaded = fi.ModTime(), fi.Size(), true
	return t.hash, nil
}

// ErrEmptyToken is returned for a token file that holds no token.
var ErrEmptyToken = errors.New("the token file is empty")

// ReadTokenFile reads a bearer token: the file's content without
// surrounding white space. Errors never quote the content.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s: %w", path, ErrEmptyToken)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: the token must be one word with no white space inside", path)
	}
	return tok, nil
}
