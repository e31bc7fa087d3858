package embedded

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// captureHandler records what reaches it, as a log backend would.
type captureHandler struct {
	level   slog.Leveler
	mu      sync.Mutex
	records []slog.Record
}

func (h *captureHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// The core adds attributes to records itself, so these are never needed.
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { panic("unexpected WithAttrs") }
func (h *captureHandler) WithGroup(string) slog.Handler      { panic("unexpected WithGroup") }

func (h *captureHandler) snapshot() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.records...)
}

func TestSlogCoreLevels(t *testing.T) {
	const none = slog.Level(-100)
	tests := []struct {
		name      string
		handler   slog.Level
		closing   bool
		zapLevel  zapcore.Level
		wantLevel slog.Level // none: nothing reaches the handler
	}{
		{"debug filtered at info", slog.LevelInfo, false, zapcore.DebugLevel, none},
		{"debug kept at debug", slog.LevelDebug, false, zapcore.DebugLevel, slog.LevelDebug},
		{"info", slog.LevelInfo, false, zapcore.InfoLevel, slog.LevelInfo},
		{"warn", slog.LevelInfo, false, zapcore.WarnLevel, slog.LevelWarn},
		{"error", slog.LevelInfo, false, zapcore.ErrorLevel, slog.LevelError},
		{"dpanic is error", slog.LevelInfo, false, zapcore.DPanicLevel, slog.LevelError},
		{"panic is error", slog.LevelInfo, false, zapcore.PanicLevel, slog.LevelError},
		{"fatal is error", slog.LevelInfo, false, zapcore.FatalLevel, slog.LevelError},
		{"error while closing is debug", slog.LevelDebug, true, zapcore.ErrorLevel, slog.LevelDebug},
		{"error while closing filtered at info", slog.LevelInfo, true, zapcore.ErrorLevel, none},
		{"warn while closing filtered at info", slog.LevelInfo, true, zapcore.WarnLevel, none},
		{"warn while closing is debug", slog.LevelDebug, true, zapcore.WarnLevel, slog.LevelDebug},
		{"fatal while closing stays error", slog.LevelInfo, true, zapcore.FatalLevel, slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &captureHandler{level: tt.handler}
			var closing atomic.Bool
			closing.Store(tt.closing)
			core := &slogCore{handler: h, closing: &closing}

			if got, want := core.Enabled(tt.zapLevel), tt.wantLevel != none; got != want {
				t.Errorf("Enabled(%v) = %v, want %v", tt.zapLevel, got, want)
			}
			// Through the core directly: a logger would panic or exit
			// after writing panic and fatal entries.
			entry := zapcore.Entry{Level: tt.zapLevel, Time: time.Now(), Message: "m"}
			if ce := core.Check(entry, nil); ce != nil {
				ce.Write()
			}
			records := h.snapshot()
			switch {
			case tt.wantLevel == none && len(records) != 0:
				t.Fatalf("got %d records, want none", len(records))
			case tt.wantLevel != none && len(records) != 1:
				t.Fatalf("got %d records, want 1", len(records))
			case tt.wantLevel != none && records[0].Level != tt.wantLevel:
				t.Errorf("level = %v, want %v", records[0].Level, tt.wantLevel)
			}
		})
	}
}

// Closing may start between Check and Write; the error must still be
// demoted.
func TestSlogCoreClosingAfterCheck(t *testing.T) {
	h := &captureHandler{level: slog.LevelInfo}
	var closing atomic.Bool
	core := &slogCore{handler: h, closing: &closing}
	ce := core.Check(zapcore.Entry{Level: zapcore.ErrorLevel, Message: "mux: server closed"}, nil)
	if ce == nil {
		t.Fatal("error entry not enabled before closing")
	}
	closing.Store(true)
	ce.Write()
	if got := h.snapshot(); len(got) != 0 {
		t.Errorf("got %v, want no record once closing started", got)
	}
}

func TestSlogCoreFields(t *testing.T) {
	var out bytes.Buffer
	handler := slog.NewTextHandler(&out, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	var closing atomic.Bool
	lg := newZapLogger(handler, &closing).Named("raft").With(zap.String("member", "a"))
	lg.Info("applied",
		zap.Int("n", 3),
		zap.Error(errors.New("boom")),
		zap.Dict("peer", zap.String("id", "b"), zap.Bool("active", true)),
	)
	want := `level=INFO msg=applied member=a error=boom n=3 peer.active=true peer.id=b logger=raft` + "\n"
	if got := out.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSlogCoreSource(t *testing.T) {
	h := &captureHandler{level: slog.LevelInfo}
	var closing atomic.Bool
	newZapLogger(h, &closing).Info("here")
	records := h.snapshot()
	if len(records) != 1 {
		t.Fatalf("got %d records, want 1", len(records))
	}
	if fn := records[0].Source().Function; fn != "etcdbrctl/embedded.TestSlogCoreSource" {
		t.Errorf("source function = %q, want the caller of the zap logger", fn)
	}
}
