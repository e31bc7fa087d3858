package backup

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the backup figures exported on /metrics, named as gardener's
// dashboards expect where a name existed there.
type Metrics struct {
	Snapshots      *prometheus.CounterVec   // etcdbr_snapshots_total{kind,succeeded}
	Duration       *prometheus.HistogramVec // etcdbr_snapshot_duration_seconds{kind,succeeded}
	Size           *prometheus.GaugeVec     // etcdbr_snapshot_size_bytes{kind}
	LatestTime     *prometheus.GaugeVec     // etcdbr_snapshot_latest_timestamp{kind}
	LatestRevision *prometheus.GaugeVec     // etcdbr_snapshot_latest_revision{kind}
	GCDeleted      *prometheus.CounterVec   // etcdbr_snapshot_gc_total{kind}
	Delta          *DeltaMetrics
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdbr_snapshots_total",
			Help: "Snapshots attempted, by kind and whether they succeeded.",
		}, []string{"kind", "succeeded"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etcdbr_snapshot_duration_seconds",
			Help:    "Time taken by a snapshot, from etcd to a committed backup.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"kind", "succeeded"}),
		Size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_size_bytes",
			Help: "Stored size of the latest successful snapshot.",
		}, []string{"kind"}),
		LatestTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_latest_timestamp",
			Help: "Unix time of the latest successful snapshot.",
		}, []string{"kind"}),
		LatestRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_latest_revision",
			Help: "etcd revision of the latest successful snapshot.",
		}, []string{"kind"}),
		GCDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdbr_snapshot_gc_total",
			Help: "Backups deleted by garbage collection, by kind (orphan: uncommitted data objects).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.Snapshots, m.Duration, m.Size, m.LatestTime, m.LatestRevision, m.GCDeleted)
	m.Delta = NewDeltaMetrics(reg)
	return m
}
