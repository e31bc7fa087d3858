package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/internal/memstat"
	"etcdbrctl/providers/file"
)

var member = backup.Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}

// runMode runs one measured mode and prints its result as JSON. With a
// cgroup, the process first moves itself into it.
func runMode(mode, cache, out, cgroup string, cfg config, profile string) error {
	if cgroup != "" {
		if err := (&memoryCgroup{dir: cgroup}).join(); err != nil {
			return err
		}
	}
	anon := sampleAnon()
	var (
		r   result
		err error
	)
	switch mode {
	case "open":
		r, err = openOnly(cache)
	case "a":
		if profile != "" {
			f, err := os.Create(profile)
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
		}
		r, err = ours(cache, out, cfg)
		pprof.StopCPUProfile()
	case "b":
		r, err = replay(cache, cfg)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return err
	}
	if r.PeakRSS, err = memstat.PeakRSS(); err != nil {
		return err
	}
	r.PeakAnon = anon()
	return json.NewEncoder(os.Stdout).Encode(r)
}

// newestPlan opens the benchmark's store and plans a restore of its newest state.
func newestPlan(ctx context.Context, cache string) (*file.Store, backup.Plan, error) {
	store, err := file.New(storeDir(cache))
	if err != nil {
		return nil, backup.Plan{}, err
	}
	plan, err := backup.PlanRestore(ctx, store, backup.Target{})
	return store, plan, err
}

// freshDir is cache/name, removed if a run before left it.
func freshDir(cache, name string) (string, error) {
	dir := filepath.Join(cache, name)
	return dir, os.RemoveAll(dir)
}

// restoreFullOnly restores the newest full snapshot, without its deltas,
// into dir with etcd's own restore code.
func restoreFullOnly(ctx context.Context, cache, dir string) (*file.Store, backup.Plan, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, backup.Plan{}, err
	}
	store, plan, err := newestPlan(ctx, cache)
	if err != nil {
		return nil, backup.Plan{}, err
	}
	err = backup.RestoreFull(ctx, store, plan.Full, backup.Encryption{}, member, dir, nil)
	return store, plan, err
}

// ours is (a): etcdbrctl's restore of the newest state into cache/name.
func ours(cache, name string, cfg config) (result, error) {
	ctx := context.Background()
	out, err := freshDir(cache, name)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	store, plan, err := newestPlan(ctx, cache)
	if err != nil {
		return result{}, err
	}
	res, err := backup.Restore(ctx, store, plan, backup.RestoreOptions{
		Member:      member,
		MaxFetchers: cfg.Fetchers,
		Progress:    backup.TerminalProgress(os.Stderr),
	}, out)
	if err != nil {
		return result{}, err
	}
	return result{
		Seconds:      time.Since(start).Seconds(),
		ApplySeconds: res.Applying.Seconds(),
		Events:       res.Events,
		Revision:     res.Revision,
		Dir:          out,
	}, nil
}

// openOnly measures the floor under any restore through etcd's packages:
// etcd's backend opening the full snapshot's database and closing it
// again. On Linux it maps the database with MAP_POPULATE, so all of it is
// resident at once. The peak is taken from the open alone.
func openOnly(cache string) (result, error) {
	ctx := context.Background()
	dir := filepath.Join(cache, "restored-full")
	defer os.RemoveAll(dir)
	_, plan, err := restoreFullOnly(ctx, cache, dir)
	if err != nil {
		return result{}, err
	}
	if err := memstat.ResetPeak(); err != nil {
		return result{}, err
	}
	start := time.Now()
	be := backend.NewDefaultBackend(zap.NewNop(), filepath.Join(dir, "member", "snap", "db"))
	if err := be.Close(); err != nil {
		return result{}, err
	}
	return result{Seconds: time.Since(start).Seconds(), Revision: plan.Full.Revision}, nil
}

// replay is (b): the full snapshot restored by etcd's own code, an etcd
// server started on it, and the events replayed one client Txn per
// revision, as tools that restore through the etcd API do.
func replay(cache string, cfg config) (result, error) {
	ctx := context.Background()
	out := filepath.Join(cache, "restored-b")
	defer os.RemoveAll(out)
	start := time.Now()
	store, plan, err := restoreFullOnly(ctx, cache, out)
	if err != nil {
		return result{}, err
	}
	e, c, err := startEtcd(out)
	if err != nil {
		return result{}, err
	}
	defer e.Close()
	defer c.Close()
	full := time.Since(start)

	start = time.Now()
	var events int64
	var ops []clientv3.Op
	var opsRev int64
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		resp, err := c.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		if resp.Header.Revision != opsRev {
			return fmt.Errorf("replayed revision %d landed at %d", opsRev, resp.Header.Revision)
		}
		ops = ops[:0]
		return nil
	}
	stopped := errors.New("sample done")
	for _, m := range plan.Deltas {
		err := eachEvent(ctx, store, m, func(ev *mvccpb.Event) error {
			if rev := ev.Kv.ModRevision; rev != opsRev {
				if err := flush(); err != nil {
					return err
				}
				if events >= cfg.BaselineEvents {
					return stopped
				}
				opsRev = rev
			}
			if ev.Type == mvccpb.DELETE {
				ops = append(ops, clientv3.OpDelete(string(ev.Kv.Key)))
			} else {
				ops = append(ops, clientv3.OpPut(string(ev.Kv.Key), string(ev.Kv.Value)))
			}
			events++
			return nil
		})
		if errors.Is(err, stopped) {
			break
		}
		if err != nil {
			return result{}, err
		}
	}
	if err := flush(); err != nil {
		return result{}, err
	}
	applied := time.Since(start)
	hash, err := c.HashKV(ctx, c.Endpoints()[0], opsRev)
	if err != nil {
		return result{}, err
	}
	return result{
		Seconds:      full.Seconds() + applied.Seconds(),
		FullSeconds:  full.Seconds(),
		ApplySeconds: applied.Seconds(),
		Events:       events,
		Revision:     opsRev,
		Hash:         hash.Hash,
	}, nil
}

func eachEvent(ctx context.Context, store *file.Store, m backup.Manifest, fn func(*mvccpb.Event) error) error {
	s, err := backup.OpenDelta(ctx, store, m, backup.Encryption{})
	if err != nil {
		return err
	}
	defer s.Close()
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.Event != nil {
			if err := fn(rec.Event); err != nil {
				return err
			}
		}
	}
}

// verify starts etcd on (a)'s result: it must be at the final revision and
// hold, at the revision (b) reached, exactly what (b) holds.
func verify(cache string, info backupInfo, a, b result) error {
	e, c, err := startEtcd(a.Dir)
	if err != nil {
		return fmt.Errorf("start etcd on the restored directory: %w", err)
	}
	defer os.RemoveAll(a.Dir)
	defer e.Close()
	defer c.Close()
	ctx := context.Background()
	resp, err := c.Get(ctx, "x")
	if err != nil {
		return err
	}
	if resp.Header.Revision != info.FinalRevision || a.Revision != info.FinalRevision {
		return fmt.Errorf("(a) restored revision %d (etcd says %d), want %d", a.Revision, resp.Header.Revision, info.FinalRevision)
	}
	hash, err := c.HashKV(ctx, c.Endpoints()[0], b.Revision)
	if err != nil {
		return err
	}
	if hash.Hash != b.Hash {
		return fmt.Errorf("at revision %d (a) hashes to %x, (b) to %x", b.Revision, hash.Hash, b.Hash)
	}
	fmt.Printf("checked: (a) is at revision %d; at revision %d its key-value history hashes as (b)'s (%08x)\n\n",
		info.FinalRevision, b.Revision, b.Hash)
	return nil
}

// sampleAnon follows the anonymous resident memory (heap, stacks: what the
// process allocated, as opposed to file pages it maps) and returns a func
// giving its highest value so far.
func sampleAnon() func() int64 {
	var peak atomic.Int64
	read := func() {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				if v := kb << 10; v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}
	go func() {
		for {
			read()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() int64 { read(); return peak.Load() }
}
