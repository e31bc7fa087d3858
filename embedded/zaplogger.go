package embedded

import (
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
)

// ZapLogger gives etcd library code outside a running server (its restore
// code, say) a zap logger that writes through log.
func ZapLogger(log *slog.Logger) *zap.Logger {
	return newZapLogger(log.Handler(), new(atomic.Bool))
}
