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
//
// Beside them, two memory figures: (a) once more in a memory cgroup limited
// to -memory-limit (anonymous memory and page cache together), which shows
// what the restore needs rather than what the kernel let it keep mapped;
// and the peak of etcd's backend merely opening the full snapshot's
// database, the floor under any restore through etcd's packages.
package main

import (
	"encoding/json"
	"errors"
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
		mode     = flag.String("mode", "", "internal: run one measured mode (a, b or open) in this process")
		dir      = flag.String("dir", "", "internal: the cache directory for -mode")
		out      = flag.String("out", "restored-a", "internal: the data directory of -mode a, in the cache directory")
		cgroup   = flag.String("cgroup", "", "internal: the memory cgroup -mode runs in")
		limit    = flag.String("memory-limit", "256MiB", "run (a) once more in a memory cgroup with this limit; 0 skips it")
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
	memLimit, err := bytesize.Parse(*limit)
	if err != nil {
		log.Fatalf("-memory-limit: %v", err)
	}
	cfg := config{DBSize: bytes, Events: *events, BaselineEvents: *baseline, SegmentEvents: *segment, Fetchers: *fetchers, Seed: 1}
	if cfg.BaselineEvents <= 0 || cfg.BaselineEvents > cfg.Events {
		cfg.BaselineEvents = cfg.Events
	}
	if *mode != "" {
		if err := runMode(*mode, *dir, *out, *cgroup, cfg, *profile); err != nil {
			log.Fatalf("mode %s: %v", *mode, err)
		}
		return
	}
	if err := compare(cfg, *cache, *keep, *profile, memLimit); err != nil {
		log.Fatal(err)
	}
}

func compare(cfg config, cache string, keep bool, profile string, memLimit int64) error {
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

	a, err := runChild("a", cache, "restored-a", nil, cfg, profile)
	if err != nil {
		return err
	}
	floor, err := runChild("open", cache, "", nil, cfg, "")
	if err != nil {
		return err
	}
	limited := runLimited(cache, cfg, memLimit)
	b, err := runChild("b", cache, "", nil, cfg, "")
	if err != nil {
		return err
	}
	if err := verify(cache, info, a, b); err != nil {
		return err
	}
	if limited.err == nil {
		if err := verify(cache, info, limited.result, b); err != nil {
			return fmt.Errorf("(a) under a memory limit: %w", err)
		}
	}
	report(cfg, info, a, b, floor, limited)
	return nil
}

// limitedRun is (a) run again in a memory cgroup.
type limitedRun struct {
	result
	limit, cgroupPeak int64
	err               error
}

func runLimited(cache string, cfg config, limit int64) limitedRun {
	run := limitedRun{limit: limit}
	if limit <= 0 {
		run.err = errors.New("skipped (-memory-limit 0)")
		return run
	}
	cg, err := newMemoryCgroup(limit)
	if err != nil {
		run.err = fmt.Errorf("not measured: no memory cgroup could be made: %w", err)
		return run
	}
	defer cg.remove()
	run.result, run.err = runChild("a", cache, "restored-a-limited", cg, cfg, "")
	if peak, err := cg.peak(); err == nil {
		run.cgroupPeak = peak
	}
	return run
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

func runChild(mode, cache, out string, cg *memoryCgroup, cfg config, profile string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	args := []string{"-mode", mode, "-dir", cache, "-events", strconv.FormatInt(cfg.Events, 10),
		"-baseline-events", strconv.FormatInt(cfg.BaselineEvents, 10), "-max-fetchers", strconv.Itoa(cfg.Fetchers),
		"-db-size", strconv.FormatInt(cfg.DBSize, 10), "-segment-events", strconv.FormatInt(cfg.SegmentEvents, 10),
		"-cpuprofile", profile, "-out", out}
	if cg != nil {
		args = append(args, "-cgroup", cg.dir)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	printed, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("mode %s: %w", mode, err)
	}
	var r result
	if err := json.Unmarshal(printed, &r); err != nil {
		return result{}, fmt.Errorf("mode %s printed %q", mode, printed)
	}
	return r, nil
}

func report(cfg config, info backupInfo, a, b, floor result, limited limitedRun) {
	aRate := float64(a.Events) / a.ApplySeconds
	bRate := float64(b.Events) / b.ApplySeconds
	bEstimate := b.FullSeconds + float64(info.Events)/bRate
	fmt.Printf("%-58s %9s %13s %11s %11s\n", "mode", "seconds", "events/s", "peak RSS", "peak anon")
	fmt.Printf("%-58s %9.2f %13.0f %11s %11s\n", "(a) etcdbrctl restore, whole (fetch, apply, member, sync)",
		a.Seconds, float64(a.Events)/a.Seconds, human(a.PeakRSS), human(a.PeakAnon))
	fmt.Printf("%-58s %9.2f %13.0f\n", "    of which applying the delta events", a.ApplySeconds, aRate)
	if limited.err == nil {
		fmt.Printf("%-58s %9.2f %13.0f %11s %11s\n", fmt.Sprintf("(a) again, memory limited to %s (cgroup)", human(limited.limit)),
			limited.Seconds, float64(limited.Events)/limited.Seconds, human(limited.PeakRSS), human(limited.PeakAnon))
		fmt.Printf("%-58s %9.2f %13.0f\n", "    of which applying the delta events", limited.ApplySeconds, float64(limited.Events)/limited.ApplySeconds)
	}
	fmt.Printf("%-58s %9.2f %13s %11s\n", "etcd's backend opening the full snapshot's database only", floor.Seconds, "",
		human(floor.PeakRSS))
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
	fmt.Printf("peak RSS (a): %s (goal <= 256 MiB: %s), of it anonymous at most %s. The rest is the database's\n"+
		"    pages: etcd's backend maps the database with MAP_POPULATE, so opening the full snapshot's database alone\n"+
		"    peaks at %s, and no restore through etcd's backend can peak lower. Those pages are page cache, which\n"+
		"    the kernel takes back when memory is short, as the run below shows.\n",
		human(a.PeakRSS), verdict(a.PeakRSS <= 256<<20), human(a.PeakAnon), human(floor.PeakRSS))
	if limited.err != nil {
		fmt.Printf("(a) with memory limited to %s: %v (goal: restores within 256 MiB: NOT met)\n", human(limited.limit), limited.err)
	} else {
		fmt.Printf("(a) with memory limited to %s (a cgroup charging anonymous memory and page cache, no swap): restored\n"+
			"    and checked as above in %.1f s; peak RSS %s, of it %s charged to the cgroup (the rest is mostly\n"+
			"    the program's code, loaded before the run and charged elsewhere)\n"+
			"    goal: restores within 256 MiB: %s\n",
			human(limited.limit), limited.Seconds, human(limited.PeakRSS), human(limited.cgroupPeak), verdict(limited.limit <= 256<<20))
	}
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
