package supervisor

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"etcdbrctl/backup"
)

func (d *Daemon) httpServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{Registry: d.registry}))
	mux.HandleFunc("POST /snapshot/full", d.handleFullSnapshot)
	mux.HandleFunc("GET /snapshot/latest", d.handleLatest)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

type health struct {
	Health bool   `json:"health"`
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason,omitempty"`
}

// handleHealth answers 200 only when etcd serves a linearizable read.
func (d *Daemon) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := health{Phase: d.phase.Load().(Phase)}
	client := d.client.Load()
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

func (d *Daemon) handleFullSnapshot(w http.ResponseWriter, r *http.Request) {
	if d.client.Load() == nil {
		writeError(w, http.StatusServiceUnavailable, "etcd is not running yet")
		return
	}
	m, err := d.sched.TakeFull(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "full snapshot failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// latestChain is the newest full snapshot and the deltas that follow it.
type latestChain struct {
	Full   *backup.Manifest  `json:"full"`
	Deltas []backup.Manifest `json:"deltas"`
}

func (d *Daemon) handleLatest(w http.ResponseWriter, r *http.Request) {
	c, err := backup.ReadCatalog(r.Context(), d.sched.Store)
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	out := latestChain{Deltas: []backup.Manifest{}}
	if e, ok := c.LatestFull(); ok {
		m, err := backup.ReadManifest(r.Context(), d.sched.Store, e.Key)
		if err != nil {
			writeError(w, http.StatusBadGateway, err.Error())
			return
		}
		out.Full = &m
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

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
