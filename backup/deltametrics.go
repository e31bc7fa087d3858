package backup

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DeltaMetrics are the figures of the delta loop. Every method works on a
// nil *DeltaMetrics, so the loop runs without metrics too.
type DeltaMetrics struct {
	LagRevisions prometheus.Gauge     // etcdbr_delta_lag_revisions
	LagSeconds   prometheus.GaugeFunc // etcdbr_delta_lag_seconds
	Buffered     prometheus.Gauge     // etcdbr_delta_buffered_bytes
	Pauses       prometheus.Counter   // etcdbr_delta_watch_pauses_total

	oldestUnsaved atomic.Int64 // unix nanoseconds; 0 when everything seen is stored
}

// NewDeltaMetrics creates the delta metrics and registers them with reg.
func NewDeltaMetrics(reg prometheus.Registerer) *DeltaMetrics {
	m := &DeltaMetrics{
		LagRevisions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdbr_delta_lag_revisions",
			Help: "etcd's current revision minus the last revision stored in a backup.",
		}),
		Buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcdbr_delta_buffered_bytes",
			Help: "Bytes of changes held in memory, waiting for or in a delta upload.",
		}),
		Pauses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcdbr_delta_watch_pauses_total",
			Help: "Times the watch was stopped because the buffer was full while an upload was slow.",
		}),
	}
	m.LagSeconds = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "etcdbr_delta_lag_seconds",
		Help: "Age of the oldest change seen but not yet stored in a backup; 0 when none waits.",
	}, func() float64 {
		oldest := m.oldestUnsaved.Load()
		if oldest == 0 {
			return 0
		}
		return time.Since(time.Unix(0, oldest)).Seconds()
	})
	reg.MustRegister(m.LagRevisions, m.LagSeconds, m.Buffered, m.Pauses)
	return m
}

func (m *DeltaMetrics) setLag(etcdRevision, stored int64, oldestUnsaved time.Time) {
	if m == nil {
		return
	}
	m.LagRevisions.Set(float64(max(0, etcdRevision-stored)))
	if oldestUnsaved.IsZero() {
		m.oldestUnsaved.Store(0)
	} else {
		m.oldestUnsaved.Store(oldestUnsaved.UnixNano())
	}
}

func (m *DeltaMetrics) setBuffered(n int64) {
	if m != nil {
		m.Buffered.Set(float64(n))
	}
}

func (m *DeltaMetrics) paused() {
	if m != nil {
		m.Pauses.Inc()
	}
}
