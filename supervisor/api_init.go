package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"etcdbrctl/backup"
	"etcdbrctl/datadir"
)

// Initializer makes a data dir ready for etcd: it checks it in the given
// mode and repairs it from backups when needed. It backs
// /initialization/start.
type Initializer interface {
	Initialize(ctx context.Context, mode datadir.Mode) error
}

// InitStatus is the state /initialization/status reports, with the words
// gardener's etcd-backup-restore uses, so that scripts written for it work.
type InitStatus string

const (
	InitNew        InitStatus = "New"
	InitProgress   InitStatus = "Progress"
	InitSuccessful InitStatus = "Successful"
	InitFailed     InitStatus = "Failed"
)

// initialization runs one Initialize at a time in the background.
type initialization struct {
	mu     sync.Mutex
	status InitStatus // "" means InitNew
	err    error
	wg     sync.WaitGroup
}

// start begins an initialization unless one is running; it reports whether
// it began one.
func (s *initialization) start(ctx context.Context, run func(context.Context) error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == InitProgress {
		return false
	}
	s.status, s.err = InitProgress, nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := run(ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.err = err
		if err != nil {
			s.status = InitFailed
		} else {
			s.status = InitSuccessful
		}
	}()
	return true
}

// take returns the status. A finished result is reported once, then the
// status goes back to New, as in gardener's tool, whose scripts poll until
// they read Successful or Failed.
func (s *initialization) take() (InitStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.status, s.err
	switch st {
	case "":
		st = InitNew
	case InitSuccessful, InitFailed:
		s.status, s.err = InitNew, nil
	}
	return st, err
}

// initStatusBody is the JSON answer of the initialization endpoints.
type initStatusBody struct {
	Status  InitStatus `json:"status"`
	Error   string     `json:"error,omitempty"`
	Message string     `json:"message,omitempty"`
}

// startInitialization begins checking (and repairing) the data dir in the
// background; /initialization/status reports how it went.
func (a *API) startInitialization(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mode := datadir.Full // gardener's default
	if v := q.Get("mode"); v != "" {
		m, err := datadir.ParseMode(strings.ToLower(v))
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown mode %q: use mode=full or mode=sanity", v))
			return
		}
		mode = m
	}
	// Gardener's scripts may send the revision the data dir must reach;
	// validation here always compares the data dir with the newest backup,
	// which covers it, so the value is only checked.
	if v := q.Get("failbelowrevision"); v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("failbelowrevision=%q is not a revision number", v))
			return
		}
	}
	if a.Initializer == nil {
		writeError(w, http.StatusNotImplemented, "initialization through the API is not available in this command (run checks and repairs the data dir itself before etcd starts)")
		return
	}
	began := a.init.start(ctx, func(ctx context.Context) error {
		a.log().Info("initialization started", "mode", mode)
		start := time.Now()
		err := a.Initializer.Initialize(ctx, mode)
		if err != nil {
			a.log().Error("initialization failed", "mode", mode, "err", err, "took", time.Since(start).Round(time.Millisecond))
		} else {
			a.log().Info("initialization succeeded", "mode", mode, "took", time.Since(start).Round(time.Millisecond))
		}
		return err
	})
	body := initStatusBody{Status: InitProgress}
	if !began {
		body.Message = "an initialization is already in progress"
	}
	writeJSON(w, http.StatusOK, body)
}

// serveInitializationStatus answers New, Progress, Successful or Failed as
// plain text, as gardener's tool does; a client that accepts JSON gets the
// status with the reason of a failure.
func (a *API) serveInitializationStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.init.take()
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		body := initStatusBody{Status: st}
		if err != nil {
			body.Error = err.Error()
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(st))
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// DataDirInitializer checks a data dir in the mode asked for and restores
// it from the newest backup when it is empty or invalid, for the `server`
// command, whose etcd starts only after the initialization succeeded.
type DataDirInitializer struct {
	Restorer Restorer
	DataDir  string
	Metrics  *backup.Metrics
}

// Initialize runs Restorer.Initialize in the mode asked for and records
// how long the check and, when one was tried, the restore took.
func (i DataDirInitializer) Initialize(ctx context.Context, mode datadir.Mode) error {
	start := time.Now()
	res, err := i.Restorer.Initialize(ctx, i.DataDir, mode, false)
	took := time.Since(start)
	if res.CheckTook > 0 {
		i.Metrics.Validation(res.CheckTook, res.Report.State == datadir.Valid)
	}
	if res.Action == ActionRestored || err != nil && res.Backup != "" {
		i.Metrics.Restoration(took-res.CheckTook, err == nil)
	}
	if err == nil {
		i.Restorer.Log.Info("data dir initialized", "dir", i.DataDir, "check", mode, "action", res.Action)
	}
	return err
}
