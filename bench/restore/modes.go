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

	"etcdbrctl/backup"
	"etcdbrctl/internal/memstat"
	"etcdbrctl/providers/file"
)

var member = backup.Member{Name: "default", PeerURLs: []string{"http://127.0.0.1:2380"}}

// runMode runs one measured mode and prints its result as JSON.
func runMode(mode, cache string, cfg config, profile string) error {
	anon := sampleAnon()
	var (
		r   result
		err error
	)
	switch mode {
	case "a":
		if profile != "" {
			f, err := os.Create(profile)
			if err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
		}
		r, err = ours(cache, cfg)
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

// ours is (a): etcdbrctl's restore of the newest state.
func ours(cache string, cfg config) (result, error) {
	ctx := context.Background()
	store, err := file.New(storeDir(cache))
	if err != nil {
		return result{}, err
	}
	out := filepath.Join(cache, "restored-a")
	if err := os.RemoveAll(out); err != nil {
		return result{}, err
	}
	start := time.Now()
	plan, err := backup.PlanRestore(ctx, store, backup.Target{})
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

// replay is (b): the full snapshot restored by etcd's own code, an etcd
// server started on it, and the events replayed one client Txn per
// revision, as tools that restore through the etcd API do.
func replay(cache string, cfg config) (result, error) {
	ctx := context.Background()
	store, err := file.New(storeDir(cache))
	if err != nil {
		return result{}, err
	}
	out := filepath.Join(cache, "restored-b")
	if err := os.RemoveAll(out); err != nil {
		return result{}, err
	}
	defer os.RemoveAll(out)
	plan, err := backup.PlanRestore(ctx, store, backup.Target{})
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	if err := backup.RestoreFull(ctx, store, plan.Full, backup.Encryption{}, member, out, nil); err != nil {
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
