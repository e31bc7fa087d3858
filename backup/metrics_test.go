package backup

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestMetricsNames: the names, labels and label values gardener's
// dashboards query exist from the start and move as events are recorded.
func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for _, want := range []string{
		`etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 0`,
		`etcdbr_snapshot_duration_seconds_count{kind="Incr",succeeded="false"} 0`,
		`etcdbr_snapshot_latest_revision{kind="Full"} 0`,
		`etcdbr_snapshot_latest_timestamp{kind="Incr"} 0`,
		`etcdbr_snapshot_required{kind="Full"} 0`,
		`etcdbr_snapshot_gc_total{kind="Full",succeeded="true"} 0`,
		`etcdbr_snapshot_gc_total{kind="Chunk",succeeded="true"} 0`,
		`etcdbr_validation_duration_seconds_count{succeeded="true"} 0`,
		`etcdbr_restoration_duration_seconds_count{succeeded="false"} 0`,
	} {
		expectMetric(t, reg, want)
	}

	at := time.Unix(1_700_000_000, 0)
	m.SnapshotRequired(KindFull, true)
	expectMetric(t, reg, `etcdbr_snapshot_required{kind="Full"} 1`)
	m.SnapshotTaken(KindFull, time.Second, Manifest{}, errors.New("store down"))
	expectMetric(t, reg, `etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="false"} 1`)
	m.SnapshotTaken(KindFull, 2*time.Second, Manifest{Kind: KindFull, Revision: 42, Time: at, Size: 100}, nil)
	m.SnapshotTaken(KindDelta, time.Millisecond, Manifest{Kind: KindDelta, FromRevision: 43, Revision: 50, Time: at.Add(time.Minute)}, nil)
	m.GarbageCollected(KindFull, nil)
	m.GarbageCollected(KindDelta, errors.New("denied"))
	m.OrphanCollected(nil)
	m.Validation(time.Second, false)
	m.Restoration(time.Second, true)
	for _, want := range []string{
		`etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 1`,
		`etcdbr_snapshot_duration_seconds_count{kind="Incr",succeeded="true"} 1`,
		`etcdbr_snapshot_latest_revision{kind="Full"} 42`,
		`etcdbr_snapshot_latest_revision{kind="Incr"} 50`,
		`etcdbr_snapshot_latest_timestamp{kind="Full"} 1.7e+09`,
		`etcdbr_snapshot_required{kind="Full"} 0`,
		`etcdbr_snapshot_size_bytes{kind="Full"} 100`,
		`etcdbr_snapshot_gc_total{kind="Full",succeeded="true"} 1`,
		`etcdbr_snapshot_gc_total{kind="Incr",succeeded="false"} 1`,
		`etcdbr_snapshot_gc_total{kind="Chunk",succeeded="true"} 1`,
		`etcdbr_validation_duration_seconds_count{succeeded="false"} 1`,
		`etcdbr_restoration_duration_seconds_count{succeeded="true"} 1`,
	} {
		expectMetric(t, reg, want)
	}
}

// TestMetricsNil: code without a metrics endpoint records nothing and
// does not crash.
func TestMetricsNil(t *testing.T) {
	var m *Metrics
	m.SnapshotTaken(KindFull, time.Second, Manifest{}, nil)
	m.LatestSnapshot(Manifest{})
	m.SnapshotRequired(KindFull, true)
	m.GarbageCollected(KindFull, nil)
	m.OrphanCollected(nil)
	m.Validation(time.Second, true)
	m.Restoration(time.Second, true)
}

// expectMetric looks for one line of the text exposition format.
func expectMetric(t *testing.T, reg *prometheus.Registry, want string) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), want+"\n") {
		t.Errorf("metrics lack %s", want)
	}
}
