package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/backup"
	"etcdbrctl/providers"
)

// SnapshotTaker takes a full snapshot on request. A taker may also offer
// TakeFinal (FinalSnapshotTaker) and TakeDelta (DeltaTaker); the API finds
// them by type assertion and answers 501 where they are missing.
type SnapshotTaker interface {
	TakeFull(ctx context.Context) (backup.Manifest, error)
}

// FinalSnapshotTaker takes a full snapshot and ends the schedule, for
// POST /snapshot/full?final=true.
type FinalSnapshotTaker interface {
	TakeFinal(ctx context.Context) (backup.Manifest, error)
}

// DeltaTaker saves the changes since the last backup as a delta snapshot
// now, for POST /snapshot/delta.
type DeltaTaker interface {
	TakeDelta(ctx context.Context) (backup.Manifest, error)
}

// APIOptions are the access rules of the HTTP API.
type APIOptions struct {
	// TokenFile holds a bearer token that every state-changing request must
	// carry; empty means no token. The file is read again when it changes.
	TokenFile string
	// AllowGetActions lets state-changing endpoints answer GET, for old
	// scripts; otherwise they take POST only.
	AllowGetActions bool
	// EnableProfiling serves /debug/pprof/.
	EnableProfiling bool
	// ClientCertRequired refuses every request but /healthz that did not
	// present a client certificate the TLS listener verified.
	ClientCertRequired bool
}

// API is the HTTP API shared by run and server. It sees the rest of the
// program only through the functions and interfaces below, so any command
// can serve it. Nil fields turn their endpoints into clear errors.
type API struct {
	// Phase says where the program is; nil means always PhaseRunning.
	Phase func() Phase
	// Etcd returns a client of the etcd being backed up, or nil while
	// there is none yet.
	Etcd func() *clientv3.Client
	// Snapshots takes snapshots on request.
	Snapshots SnapshotTaker
	// Store holds the backups /snapshot/latest reports.
	Store providers.Store
	// Initializer checks and repairs the data dir for /initialization/start.
	Initializer Initializer
	// Gatherer is what /metrics exports.
	Gatherer prometheus.Gatherer
	Options  APIOptions
	Log      *slog.Logger

	tokenOnce sync.Once
	token     *tokenFile
	init      initialization
}

// Server returns an http.Server for the API. ctx bounds the work a request
// starts and leaves running (an initialization); Wait waits for that work.
func (a *API) Server(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           a.Handler(ctx),
		ReadHeaderTimeout: 10 * time.Second,
		// Failed TLS handshakes and the like go to the program's log.
		ErrorLog: slog.NewLogLogger(a.log().Handler(), slog.LevelWarn),
	}
}

// Handler routes the API's endpoints. Paths are matched without a method so
// that a wrong method gets a JSON answer naming the right one.
func (a *API) Handler(ctx context.Context) http.Handler {
	a.tokenOnce.Do(func() {
		if a.Options.TokenFile != "" {
			a.token = &tokenFile{path: a.Options.TokenFile}
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/healthz", a.read(http.HandlerFunc(a.serveHealth)))
	guarded := http.NewServeMux()
	guarded.Handle("/initialization/start", a.action(func(w http.ResponseWriter, r *http.Request) {
		a.startInitialization(ctx, w, r)
	}))
	guarded.Handle("/initialization/status", a.read(http.HandlerFunc(a.serveInitializationStatus)))
	guarded.Handle("/snapshot/full", a.action(a.serveFullSnapshot))
	guarded.Handle("/snapshot/delta", a.action(a.serveDeltaSnapshot))
	guarded.Handle("/snapshot/latest", a.read(http.HandlerFunc(a.serveLatest)))
	if a.Gatherer != nil {
		guarded.Handle("/metrics", a.read(promhttp.HandlerFor(a.Gatherer, promhttp.HandlerOpts{})))
	}
	if a.Options.EnableProfiling {
		guarded.HandleFunc("/debug/pprof/", pprof.Index)
		guarded.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		guarded.HandleFunc("/debug/pprof/profile", pprof.Profile)
		guarded.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		guarded.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	guarded.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	mux.Handle("/", a.clientCert(guarded))
	return a.securityHeaders(mux)
}

// Wait waits for work that requests started, such as an initialization, to
// end; cancel the Handler's context first to make it end soon.
func (a *API) Wait() { a.init.wg.Wait() }

func (a *API) phase() Phase {
	if a.Phase == nil {
		return PhaseRunning
	}
	return a.Phase()
}

func (a *API) etcd() *clientv3.Client {
	if a.Etcd == nil {
		return nil
	}
	return a.Etcd()
}

type health struct {
	Health bool   `json:"health"`
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason,omitempty"`
}

// serveHealth answers 200 only when etcd serves a linearizable read.
func (a *API) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := health{Phase: a.phase()}
	client := a.etcd()
	switch {
	case h.Phase != PhaseRunning || client == nil:
		h.Reason = "etcd is not running yet (" + string(h.Phase) + ")"
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := client.Get(ctx, "health"); err != nil {
			h.Reason = "etcd does not answer: " + err.Error()
		} else {
			h.Health = true
		}
	}
	status := http.StatusOK
	if !h.Health {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// serveFullSnapshot takes a full snapshot now; with final=true it also ends
// the schedule, as before a planned shutdown.
func (a *API) serveFullSnapshot(w http.ResponseWriter, r *http.Request) {
	final := false
	if v := r.URL.Query().Get("final"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "final="+strconv.Quote(v)+" is not a boolean (use final=true or final=false)")
			return
		}
		final = b
	}
	take := a.snapshotter(w)
	if take == nil {
		return
	}
	fn := take.TakeFull
	if final {
		ft, ok := take.(FinalSnapshotTaker)
		if !ok {
			writeError(w, http.StatusNotImplemented, "final snapshots are not available in this command")
			return
		}
		fn = ft.TakeFinal
	}
	m, err := fn(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "full snapshot failed: "+err.Error())
		return
	}
	if final {
		a.Log.Info("final full snapshot taken; the snapshot schedule has ended", "revision", m.Revision)
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) serveDeltaSnapshot(w http.ResponseWriter, r *http.Request) {
	take := a.snapshotter(w)
	if take == nil {
		return
	}
	dt, ok := take.(DeltaTaker)
	if !ok {
		writeError(w, http.StatusNotImplemented, "delta snapshots are not available in this version")
		return
	}
	m, err := dt.TakeDelta(r.Context())
	switch {
	case errors.Is(err, backup.ErrNoChanges):
		writeJSON(w, http.StatusOK, map[string]string{"message": "nothing changed since the last backup; no delta snapshot needed"})
		return
	case errors.Is(err, backup.ErrDeltasOff):
		writeError(w, http.StatusConflict, "delta snapshots are not running (off with --delta-snapshot-period 0, or etcd is not ready yet)")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "delta snapshot failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// snapshotter returns the snapshot taker once etcd is there to snapshot, or
// writes why not and returns nil.
func (a *API) snapshotter(w http.ResponseWriter) SnapshotTaker {
	switch {
	case a.Snapshots == nil:
		writeError(w, http.StatusNotImplemented, "snapshots are not taken by this command")
		return nil
	case a.etcd() == nil:
		writeError(w, http.StatusServiceUnavailable, "etcd is not running yet ("+string(a.phase())+")")
		return nil
	}
	return a.Snapshots
}

// latestChain is the newest full snapshot and the deltas that follow it.
type latestChain struct {
	Full   *backup.Manifest  `json:"full"`
	Deltas []backup.Manifest `json:"deltas"`
}

func (a *API) serveLatest(w http.ResponseWriter, r *http.Request) {
	if a.Store == nil {
		writeError(w, http.StatusNotImplemented, "no store is configured")
		return
	}
	c, err := backup.ReadCatalog(r.Context(), a.Store)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	out := latestChain{Deltas: []backup.Manifest{}}
	// Backups are in the order they were taken: the chain is the newest
	// full snapshot and every delta taken after it.
	start := -1
	for i, e := range c.Backups {
		if e.Kind == backup.KindFull {
			start = i
		}
	}
	if start < 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	chain := []backup.Entry{c.Backups[start]}
	for _, e := range c.Backups[start+1:] {
		if e.Kind == backup.KindDelta {
			chain = append(chain, e)
		}
	}
	if err := backup.LoadManifests(r.Context(), a.Store, chain); err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	out.Full = chain[0].Manifest
	for _, e := range chain[1:] {
		out.Deltas = append(out.Deltas, *e.Manifest)
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError is the body of every refusal: a message naming what to fix.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}
