package embedded

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that hands etcd's zap entries to a slog.Handler,
// so etcd logs in the same format and at the same level as the rest of
// etcdbrctl.
type slogCore struct {
	handler slog.Handler
	// closing is owned by the Etcd value; once set, error lines are demoted
	// to debug because closing listeners and connections makes etcd log
	// errors that are expected and not worth anyone's attention.
	closing *atomic.Bool
	attrs   []slog.Attr // fields added through zap's With
}

// newZapLogger returns a zap logger that writes to handler.
func newZapLogger(handler slog.Handler, closing *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{handler: handler, closing: closing}, zap.AddCaller())
}

// Enabled asks the slog handler, so disabled levels cost etcd nothing.
func (c *slogCore) Enabled(level zapcore.Level) bool {
	return c.handler.Enabled(context.Background(), c.slogLevel(level))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.attrs = append(slices.Clip(c.attrs), fieldAttrs(fields)...)
	return &clone
}

func (c *slogCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(entry.Level) {
		return checked.AddCore(entry, c)
	}
	return checked
}

func (c *slogCore) Write(entry zapcore.Entry, fields []zapcore.Field) error {
	ctx := context.Background()
	// Recompute: closing may have started since Check.
	level := c.slogLevel(entry.Level)
	if !c.handler.Enabled(ctx, level) {
		return nil
	}
	record := slog.NewRecord(entry.Time, level, entry.Message, entry.Caller.PC)
	record.AddAttrs(c.attrs...)
	record.AddAttrs(fieldAttrs(fields)...)
	if entry.LoggerName != "" {
		record.AddAttrs(slog.String("logger", entry.LoggerName))
	}
	if entry.Stack != "" {
		record.AddAttrs(slog.String("stack", entry.Stack))
	}
	return c.handler.Handle(ctx, record)
}

func (c *slogCore) Sync() error { return nil }

// slogLevel maps a zap level to slog. Warnings and errors are demoted while
// closing; panic and fatal lines end the process and must stay visible.
func (c *slogCore) slogLevel(level zapcore.Level) slog.Level {
	switch level {
	case zapcore.DebugLevel:
		return slog.LevelDebug
	case zapcore.InfoLevel:
		return slog.LevelInfo
	case zapcore.WarnLevel, zapcore.ErrorLevel:
		// Closing makes etcd report its own listeners going away.
		if c.closing.Load() {
			return slog.LevelDebug
		}
		if level == zapcore.WarnLevel {
			return slog.LevelWarn
		}
		return slog.LevelError
	default:
		return slog.LevelError
	}
}

// fieldAttrs turns zap fields into slog attributes, sorted by key so that
// output is stable.
func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return mapAttrs(enc.Fields)
}

func mapAttrs(m map[string]any) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(m))
	for key, value := range m {
		if nested, ok := value.(map[string]any); ok {
			attrs = append(attrs, slog.Attr{Key: key, Value: slog.GroupValue(mapAttrs(nested)...)})
			continue
		}
		attrs = append(attrs, slog.Any(key, value))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return attrs
}
