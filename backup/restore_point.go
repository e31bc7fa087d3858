package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"etcdbrctl/providers"
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	Encryption Encryption
	Member     Member
	// MaxFetchers is how many delta segments are fetched and decoded at
	// once, ahead of the one being applied; 0 means DefaultMaxFetchers.
	MaxFetchers int
	// BumpRevision and MarkCompacted are etcdutl's --bump-revision and
	// --mark-compacted: the restored member's revision is raised by
	// BumpRevision and marked compacted, so watchers and caches that saw
	// later revisions of the old member resynchronise. Both or neither.
	BumpRevision  uint64
	MarkCompacted bool
	// Progress, if set, is called about every ProgressEvery (default one
	// second) while the restore runs, and once at the end.
	Progress      func(RestoreProgress)
	ProgressEvery time.Duration
	// Log receives the log of etcd's restore code; nil discards it.
	Log *zap.Logger
}

// DefaultMaxFetchers is the number of segments fetched at once by default.
const DefaultMaxFetchers = 4

// Restored says what Restore did.
type Restored struct {
	Revision int64 // the state restored (before any bump)
	Events   int64 // delta events applied
	Took     time.Duration
	Applying time.Duration // of Took, applying the delta events
}

// Restore writes a new etcd data directory at dataDir holding the plan's
// state: the full snapshot, then the delta segments applied revision by
// revision into its database, then etcd's own restore code writes the
// member, WAL and snap files. Everything is built in a staging directory
// beside dataDir and renamed into place only when complete and synced, so
// dataDir never holds a partial restore: on any error, or when ctx is
// cancelled, dataDir is left as it was. dataDir must not exist, or be empty.
func Restore(ctx context.Context, store providers.Store, plan Plan, opts RestoreOptions, dataDir string) (Restored, error) {
	start := time.Now()
	if err := checkRestoreOptions(plan, opts); err != nil {
		return Restored{}, err
	}
	dataDir = filepath.Clean(dataDir)
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return Restored{}, fmt.Errorf("restore target %s already exists and is not empty", dataDir)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return Restored{}, fmt.Errorf("restore target: %w", err)
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return Restored{}, fmt.Errorf("restore staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	r := &pointRestore{plan: plan, opts: opts, staging: staging, start: start}
	r.store = countingStore{Store: store, n: &r.fetched}
	if r.opts.Log == nil {
		r.opts.Log = zap.NewNop()
	}
	stopProgress := r.reportProgress()
	events, err := r.run(ctx)
	stopProgress()
	if err != nil {
		return Restored{}, err
	}
	built := filepath.Join(staging, "data")
	if err := ctx.Err(); err != nil {
		return Restored{}, err
	}
	if err := os.Rename(built, dataDir); err != nil {
		return Restored{}, fmt.Errorf("put the restored data directory in place: %w", err)
	}
	if err := syncPath(parent); err != nil {
		return Restored{}, err
	}
	res := Restored{Revision: plan.Revision, Events: events, Took: time.Since(start), Applying: time.Duration(r.applied.Load())}
	if opts.Progress != nil {
		p := r.progress()
		p.Phase = "done"
		opts.Progress(p)
	}
	return res, nil
}

func checkRestoreOptions(plan Plan, opts RestoreOptions) error {
	if (opts.BumpRevision > 0) != opts.MarkCompacted {
		return errors.New("--bump-revision and --mark-compacted go together: give both or neither")
	}
	if plan.Full.Kind != KindFull {
		return fmt.Errorf("restore plan starts with %s, not a full snapshot", plan.Full.Name())
	}
	if plan.Revision < plan.Full.Revision {
		return fmt.Errorf("restore plan ends at revision %d, before its full snapshot's %d", plan.Revision, plan.Full.Revision)
	}
	return nil
}

type pointRestore struct {
	plan    Plan
	opts    RestoreOptions
	store   providers.Store
	staging string
	start   time.Time

	fetched  atomic.Int64
	phase    atomic.Value // string
	applying atomic.Int64 // unix nanoseconds when applying started
	applied  atomic.Int64 // nanoseconds spent applying, once done
	applier  atomic.Pointer[applier]
}

// run builds the data directory at staging/data and returns the events applied.
func (r *pointRestore) run(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.phase.Store("download")

	// Segments are fetched from the start, beside the full snapshot.
	open := func(ctx context.Context, m Manifest) (RecordReader, error) {
		if r.plan.Source != nil {
			return r.plan.Source.OpenDelta(ctx, m)
		}
		return OpenDelta(ctx, r.store, m, r.opts.Encryption)
	}
	f := startFeeds(ctx, open, r.plan.Deltas, r.plan.Revision, r.fetchers())
	defer f.wait()
	defer cancel()

	snap := filepath.Join(r.staging, "snapshot.db")
	var err error
	if r.plan.Source != nil {
		err = downloadForeignDB(ctx, r.plan.Source, r.plan.Full, snap)
	} else {
		err = downloadDB(ctx, r.store, r.plan.Full, r.opts.Encryption, snap)
	}
	if err != nil {
		return 0, err
	}
	// etcd's restore code copies the snapshot into the new data directory;
	// the segments are applied to that copy, so the database is written
	// once more only in its new part, and synced once at the end.
	r.phase.Store("member")
	built := filepath.Join(r.staging, "data")
	if err := r.writeMember(snap, built); err != nil {
		return 0, err
	}
	if err := os.Remove(snap); err != nil {
		return 0, err
	}
	var events int64
	if len(r.plan.Deltas) > 0 || r.opts.BumpRevision > 0 {
		n, err := r.apply(ctx, f, filepath.Join(built, "member", "snap", "db"))
		if err != nil {
			return 0, err
		}
		events = n
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.phase.Store("sync")
	return events, syncTree(built)
}

func (r *pointRestore) fetchers() int {
	if r.opts.MaxFetchers > 0 {
		return r.opts.MaxFetchers
	}
	return DefaultMaxFetchers
}

// apply writes the segments' events up to the target into the database.
func (r *pointRestore) apply(ctx context.Context, f *feeds, db string) (int64, error) {
	a := openApplier(db, r.plan.Full.Revision, r.opts.Log)
	r.applier.Store(a)
	r.applying.Store(time.Now().UnixNano())
	r.phase.Store("apply")
	for _, sf := range f.list {
		a.startSegment()
		for batch := range sf.batches {
			if err := ctx.Err(); err != nil {
				a.abandon()
				return 0, err
			}
			if err := a.apply(sf.m, batch); err != nil {
				a.abandon()
				return 0, err
			}
		}
		if sf.err != nil {
			a.abandon()
			return 0, sf.err
		}
	}
	if a.rev != r.plan.Revision && len(r.plan.Deltas) > 0 {
		a.abandon()
		last := r.plan.Deltas[len(r.plan.Deltas)-1]
		return 0, fmt.Errorf("delta segment %s: %w: events end at revision %d, the segment's range at %d (restoring to %d)",
			last.Name(), ErrCorrupt, a.rev, last.Revision, r.plan.Revision)
	}
	if r.opts.BumpRevision > 0 {
		a.bump(int64(r.opts.BumpRevision))
	}
	if a.missedLease > 0 {
		r.opts.Log.Warn("keys were attached to leases that no backup records; they are restored without a lease", zap.Int("keys", a.missedLease))
	}
	if err := a.finish(); err != nil {
		return 0, fmt.Errorf("write restored database: %w", err)
	}
	r.applied.Store(int64(time.Since(time.Unix(0, r.applying.Load()))))
	return a.events.Load(), nil
}

// writeMember runs etcd's restore code over the snapshot: it copies it
// into dir, trims the old membership, and writes this member's, the WAL
// and the snap files.
func (r *pointRestore) writeMember(db, dir string) error {
	m := r.opts.Member
	cluster := m.InitialCluster
	if cluster == "" && len(m.PeerURLs) > 0 {
		cluster = m.Name + "=" + m.PeerURLs[0]
	}
	err := snapshot.NewV3(r.opts.Log).Restore(snapshot.RestoreConfig{
		SnapshotPath:        db,
		Name:                m.Name,
		OutputDataDir:       dir,
		PeerURLs:            m.PeerURLs,
		InitialCluster:      cluster,
		InitialClusterToken: m.InitialClusterToken,
		// The trailer was checked while downloading and is gone now.
		SkipHashCheck: true,
	})
	if err != nil {
		return fmt.Errorf("etcd restore: %w", err)
	}
	return nil
}

func (r *pointRestore) progress() RestoreProgress {
	p := RestoreProgress{
		Phase:        r.phase.Load().(string),
		Elapsed:      time.Since(r.start),
		StoredBytes:  r.fetched.Load(),
		StoredTotal:  r.plan.StoredBytes(),
		FromRevision: r.plan.Full.Revision,
		Revision:     r.plan.Full.Revision,
		ToRevision:   r.plan.Revision,
	}
	if a := r.applier.Load(); a != nil {
		p.Revision = a.revision.Load()
		p.Events = a.events.Load()
		p.Applying = time.Since(time.Unix(0, r.applying.Load()))
	}
	return p
}

// reportProgress calls the Progress option periodically until stopped.
func (r *pointRestore) reportProgress() (stop func()) {
	r.phase.Store("download")
	if r.opts.Progress == nil {
		return func() {}
	}
	every := r.opts.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.opts.Progress(r.progress())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// RestoreNewest restores the newest state the store holds (the newest full
// snapshot and the delta segments after it) at dataDir, and returns its
// revision.
func RestoreNewest(ctx context.Context, store providers.Store, opts RestoreOptions, dataDir string) (int64, error) {
	plan, err := PlanRestore(ctx, store, Target{})
	if err != nil {
		return 0, err
	}
	res, err := Restore(ctx, store, plan, opts, dataDir)
	return res.Revision, err
}
