// Command restore measures a point-in-time restore of a large backup (a
// full snapshot plus many delta events) two ways in one run:
//
//	(a) etcdbrctl's restore: segments fetched and decoded in parallel,
//	    events written straight into the snapshot's database, one sync;
//	(b) replaying the same events into an embedded etcd server restored
//	    from the same snapshot, one client Txn per revision, UnsafeNoFsync.
//
//	go run ./bench/restore -db-size 512MiB -events 1000000 -baseline-events 100000
//
// The backup is generated once into a cache directory and reused by both
// modes (and by later runs with the same sizes when -keep is given). Each
// mode runs in a child process of its own, so its peak RSS is its own.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"etcdbrctl/internal/bytesize"
)

type config struct {
	DBSize         int64
	Events         int64
	BaselineEvents int64
	SegmentEvents  int64
	Fetchers       int
	Seed           uint64
}

func main() {
	var (
		mode     = flag.String("mode", "", "internal: run one measured mode (a or b) in this process")
		dir      = flag.String("dir", "", "internal: the cache directory for -mode")
		size     = flag.String("db-size", "512MiB", "size of the full snapshot's database")
		events   = flag.Int64("events", 1_000_000, "delta events after the full snapshot")
		baseline = flag.Int64("baseline-events", 100_000, "events replayed by the baseline (b); 0: all of them")
		segment  = flag.Int64("segment-events", 20_000, "events per delta segment")
		fetchers = flag.Int("max-fetchers", 4, "segments fetched at once by (a)")
		cache    = flag.String("cache", "", "directory for the generated backup (default: a new temporary directory)")
		keep     = flag.Bool("keep", false, "keep the cache directory, to reuse it in a later run")
		profile  = flag.String("cpuprofile", "", "write a CPU profile of (a) to this file")
	)
	flag.Parse()
	bytes, err := bytesize.Parse(*size)
	if err != nil {
		log.Fatalf("-db-size: %v", err)
	}
	cfg := config{DBSize: bytes, Events: *events, BaselineEvents: *baseline, SegmentEvents: *segment, Fetchers: *fetchers, Seed: 1}
	if cfg.BaselineEvents <= 0 || cfg.BaselineEvents > cfg.Events {
		cfg.BaselineEvents = cfg.Events
	}
	if *mode != "" {
		if err := runMode(*mode, *dir, cfg, *profile); err != nil {
			log.Fatalf("mode %s: %v", *mode, err)
		}
		return
	}
	if err := compare(cfg, *cache, *keep, *profile); err != nil {
		log.Fatal(err)
	}
}

func compare(cfg config, cache string, keep bool, profile string) error {
	if cache == "" {
		var err error
		if cache, err = os.MkdirTemp("", "etcdbrctl-bench-restore-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(cache)
	}
	info, err := prepare(cache, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("backup: full snapshot %s at revision %d (%s stored), %d delta events in %d segments (%s stored)\n\n",
		human(info.DBSize), info.FullRevision, human(info.FullStored), info.Events, info.Segments, human(info.DeltaStored))

	a, err := runChild("a", cache, cfg, profile)
	if err != nil {
		return err
	}
	b, err := runChild("b", cache, cfg, "")
	if err != nil {
		return err
	}
	if err := verify(cache, info, a, b); err != nil {
		return err
	}
	report(cfg, info, a, b)
	return nil
}

// result is what a mode's child process prints, as JSON.
type result struct {
	Seconds      float64 `json:"seconds"`       // the whole restore
	FullSeconds  float64 `json:"full_seconds"`  // (b): restoring the full snapshot and starting etcd
	ApplySeconds float64 `json:"apply_seconds"` // applying (a) or replaying (b) the events
	Events       int64   `json:"events"`
	PeakRSS      int64   `json:"peak_rss"`      // VmHWM
	PeakAnon     int64   `json:"peak_anon"`     // highest RssAnon sampled
	Revision     int64   `json:"revision"`      // reached
	Hash         uint32  `json:"hash"`          // (b): etcd's HashKV at Revision
	Dir          string  `json:"dir,omitempty"` // (a): the restored data directory
}

func runChild(mode, cache string, cfg config, profile string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	args := []string{"-mode", mode, "-dir", cache, "-events", strconv.FormatInt(cfg.Events, 10),
		"-baseline-events", strconv.FormatInt(cfg.BaselineEvents, 10), "-max-fetchers", strconv.Itoa(cfg.Fetchers),
		"-db-size", strconv.FormatInt(cfg.DBSize, 10), "-segment-events", strconv.FormatInt(cfg.SegmentEvents, 10),
		"-cpuprofile", profile}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("mode %s: %w", mode, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("mode %s printed %q", mode, out)
	}
	return r, nil
}

func report(cfg config, info backupInfo, a, b result) {
	aRate := float64(a.Events) / a.ApplySeconds
	bRate := float64(b.Events) / b.ApplySeconds
	bEstimate := b.FullSeconds + float64(info.Events)/bRate
	fmt.Printf("%-58s %9s %13s %11s %11s\n", "mode", "seconds", "events/s", "peak RSS", "peak anon")
	fmt.Printf("%-58s %9.2f %13.0f %11s %11s\n", "(a) etcdbrctl restore, whole (fetch, apply, member, sync)",
		a.Seconds, float64(a.Events)/a.Seconds, human(a.PeakRSS), human(a.PeakAnon))
	fmt.Printf("%-58s %9.2f %13.0f\n", "    of which applying the delta events", a.ApplySeconds, aRate)
	sample := ""
	if b.Events < info.Events {
		sample = fmt.Sprintf(", sample of %d", b.Events)
	}
	fmt.Printf("%-58s %9.2f %13.0f %11s %11s\n", "(b) client Txn per revision, UnsafeNoFsync"+sample,
		b.FullSeconds+b.ApplySeconds, float64(b.Events)/(b.FullSeconds+b.ApplySeconds), human(b.PeakRSS), human(b.PeakAnon))
	fmt.Printf("%-58s %9.2f\n", "    of which restoring the full snapshot, starting etcd", b.FullSeconds)
	fmt.Printf("%-58s %9.2f %13.0f\n", "    of which replaying the events", b.ApplySeconds, bRate)
	if b.Events < info.Events {
		fmt.Printf("%-58s %9.2f   (full snapshot + %d events at the sampled rate)\n", "(b) estimated for all events", bEstimate, info.Events)
	}
	fmt.Println()
	fmt.Printf("apply rate (a): %.0f events/s (goal >= 100000: %s)\n", aRate, verdict(aRate >= 100_000))
	fmt.Printf("apply rate (a) vs (b): %.1fx (goal >= 20x: %s)\n", aRate/bRate, verdict(aRate/bRate >= 20))
	fmt.Printf("whole restore (a) vs (b): %.1fx\n", bEstimate/a.Seconds)
	fmt.Printf("peak RSS (a): %s (goal <= 256 MiB: %s); of it anonymous at most %s, the rest is the database's pages mapped by bbolt\n",
		human(a.PeakRSS), verdict(a.PeakRSS <= 256<<20), human(a.PeakAnon))
	fmt.Printf("durable: (a) fsyncs the restored directory before renaming it into place; (b) ran with UnsafeNoFsync\n")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n/1024)
}

func storeDir(cache string) string { return filepath.Join(cache, "store") }
