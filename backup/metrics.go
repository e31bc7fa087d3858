package backup

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values as gardener's etcd-backup-restore exports them, so that its
// dashboards and alerts work unchanged.
const (
	metricKindFull  = "Full"
	metricKindDelta = "Incr"
	// metricKindChunk counts data objects no manifest commits (interrupted
	// uploads); gardener uses this label for the pieces of an upload.
	metricKindChunk = "Chunk"
)

// metricKind maps a backup kind to gardener's label value.
func metricKind(k Kind) string {
	switch k {
	case KindFull:
		return metricKindFull
	case KindDelta:
		return metricKindDelta
	}
	return string(k)
}

// Metrics are the figures exported on /metrics, with the names, labels and
// label values of gardener's etcd-backup-restore. Every method is safe on a
// nil *Metrics, which records nothing, so code that runs without a metrics
// endpoint need not check.
type Metrics struct {
	snapshotDuration *prometheus.HistogramVec // etcdbr_snapshot_duration_seconds{kind,succeeded}
	latestRevision   *prometheus.GaugeVec     // etcdbr_snapshot_latest_revision{kind}
	latestTimestamp  *prometheus.GaugeVec     // etcdbr_snapshot_latest_timestamp{kind}
	latestSize       *prometheus.GaugeVec     // etcdbr_snapshot_size_bytes{kind}
	required         *prometheus.GaugeVec     // etcdbr_snapshot_required{kind}
	gcDeleted        *prometheus.CounterVec   // etcdbr_snapshot_gc_total{kind,succeeded}
	validation       *prometheus.HistogramVec // etcdbr_validation_duration_seconds{succeeded}
	restoration      *prometheus.HistogramVec // etcdbr_restoration_duration_seconds{succeeded}
	// Delta holds the delta loop's lag and buffer figures.
	Delta *DeltaMetrics
}

// NewMetrics creates the metrics and registers them with reg. Every series
// exists from the start with a zero value, as in gardener's tool, so that
// rate() and absent() behave from the first scrape.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	kindSucceeded := []string{"kind", "succeeded"}
	m := &Metrics{
		snapshotDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etcdbr_snapshot_duration_seconds",
			Help:    "Time taken by a snapshot, from etcd to a committed backup, by kind (Full, Incr) and whether it succeeded.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, kindSucceeded),
		latestRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_latest_revision",
			Help: "etcd revision of the latest successful snapshot, by kind.",
		}, []string{"kind"}),
		latestTimestamp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_latest_timestamp",
			Help: "Unix time of the latest successful snapshot, by kind.",
		}, []string{"kind"}),
		latestSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_size_bytes",
			Help: "Stored size of the latest successful snapshot, by kind.",
		}, []string{"kind"}),
		required: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcdbr_snapshot_required",
			Help: "1 while a snapshot of this kind is due and not yet taken (none in the store, or the last attempt failed), else 0.",
		}, []string{"kind"}),
		gcDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcdbr_snapshot_gc_total",
			Help: "Backups deleted by garbage collection, by kind (Chunk: data objects no manifest committed) and whether the deletion succeeded.",
		}, kindSucceeded),
		validation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etcdbr_validation_duration_seconds",
			Help:    "Time taken to validate the data directory, by whether it was found valid.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"succeeded"}),
		restoration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "etcdbr_restoration_duration_seconds",
			Help:    "Time taken to restore the data directory from backups, by whether it succeeded.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
		}, []string{"succeeded"}),
	}
	reg.MustRegister(m.snapshotDuration, m.latestRevision, m.latestTimestamp, m.latestSize,
		m.required, m.gcDeleted, m.validation, m.restoration)
	bools := []string{"false", "true"}
	for _, kind := range []string{metricKindFull, metricKindDelta} {
		m.latestRevision.WithLabelValues(kind)
		m.latestTimestamp.WithLabelValues(kind)
		m.required.WithLabelValues(kind)
		for _, ok := range bools {
			m.snapshotDuration.WithLabelValues(kind, ok)
		}
	}
	for _, kind := range []string{metricKindFull, metricKindDelta, metricKindChunk} {
		for _, ok := range bools {
			m.gcDeleted.WithLabelValues(kind, ok)
		}
	}
	for _, ok := range bools {
		m.validation.WithLabelValues(ok)
		m.restoration.WithLabelValues(ok)
	}
	m.Delta = NewDeltaMetrics(reg)
	return m
}

// SnapshotTaken records one snapshot attempt: its duration, and on success
// the snapshot as the latest of its kind, no longer required. A failed
// attempt marks a snapshot of that kind as required.
func (m *Metrics) SnapshotTaken(kind Kind, took time.Duration, man Manifest, err error) {
	if m == nil {
		return
	}
	k := metricKind(kind)
	m.snapshotDuration.WithLabelValues(k, strconv.FormatBool(err == nil)).Observe(took.Seconds())
	if err != nil {
		m.required.WithLabelValues(k).Set(1)
		return
	}
	m.LatestSnapshot(man)
	m.latestSize.WithLabelValues(k).Set(float64(man.Size))
	m.required.WithLabelValues(k).Set(0)
}

// LatestSnapshot records the newest backup of a kind found in the store, as
// at start before any snapshot was taken. Only kind, revision and time are read.
func (m *Metrics) LatestSnapshot(man Manifest) {
	if m == nil {
		return
	}
	k := metricKind(man.Kind)
	m.latestRevision.WithLabelValues(k).Set(float64(man.Revision))
	m.latestTimestamp.WithLabelValues(k).Set(float64(man.Time.Unix()))
}

// SnapshotRequired says whether a snapshot of kind is due and not yet taken.
func (m *Metrics) SnapshotRequired(kind Kind, required bool) {
	if m == nil {
		return
	}
	v := 0.0
	if required {
		v = 1
	}
	m.required.WithLabelValues(metricKind(kind)).Set(v)
}

// GarbageCollected counts one backup of kind that garbage collection
// deleted, or failed to delete.
func (m *Metrics) GarbageCollected(kind Kind, err error) {
	if m == nil {
		return
	}
	m.gcDeleted.WithLabelValues(metricKind(kind), strconv.FormatBool(err == nil)).Inc()
}

// OrphanCollected counts one data object without a manifest that garbage
// collection deleted, or failed to delete.
func (m *Metrics) OrphanCollected(err error) {
	if m == nil {
		return
	}
	m.gcDeleted.WithLabelValues(metricKindChunk, strconv.FormatBool(err == nil)).Inc()
}

// Validation records one check of a data directory and whether it was valid.
func (m *Metrics) Validation(took time.Duration, valid bool) {
	if m == nil {
		return
	}
	m.validation.WithLabelValues(strconv.FormatBool(valid)).Observe(took.Seconds())
}

// Restoration records one restore of a data directory and whether it succeeded.
func (m *Metrics) Restoration(took time.Duration, ok bool) {
	if m == nil {
		return
	}
	m.restoration.WithLabelValues(strconv.FormatBool(ok)).Observe(took.Seconds())
}
