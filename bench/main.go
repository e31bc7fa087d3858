// Command bench measures a full snapshot of a large etcd into the file store,
// beside two baselines measured in the same run: etcd's snapshot stream
// copied to io.Discard, and copied to a plain local file.
//
//	go run ./bench -db-size 1GiB
//
// Each mode runs in a child process of its own, so its peak RSS is its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/internal/bytesize"
	"etcdbrctl/providers/file"
)

func main() {
	var (
		mode     = flag.String("mode", "", "internal: run one measured mode in this process")
		endpoint = flag.String("endpoint", "", "internal: etcd client URL for -mode")
		out      = flag.String("out", "", "internal: output directory for -mode")
		size     = flag.String("db-size", "1GiB", "database size to fill etcd with")
		data     = flag.String("data", "k8s", "values: k8s (shaped like Kubernetes objects) or random (incompressible)")
		rounds   = flag.Int("rounds", 2, "times each mode runs; the best time counts")
		profile  = flag.String("cpuprofile", "", "write a CPU profile of each etcdbrctl run to this file")
	)
	flag.Parse()
	if *mode != "" {
		if *profile != "" && *mode == "etcdbrctl" {
			f, err := os.Create(*profile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		if err := measure(*mode, *endpoint, *out); err != nil {
			log.Fatalf("%s: %v", *mode, err)
		}
		return
	}
	bytes, err := bytesize.Parse(*size)
	if err != nil {
		log.Fatalf("-db-size: %v", err)
	}
	values, err := valuesFor(*data)
	if err != nil {
		log.Fatal(err)
	}
	if err := compare(bytes, values, *rounds, *profile); err != nil {
		log.Fatal(err)
	}
}

// compare fills an embedded etcd and runs every mode against it.
func compare(size int64, values valueMaker, rounds int, profile string) error {
	work, err := os.MkdirTemp("", "etcdbrctl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e, endpoint, err := startEtcd(filepath.Join(work, "etcd"))
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Printf("filling etcd with %s of values ...\n", human(size))
	if err := fill(endpoint, size, values); err != nil {
		return err
	}
	dbSize := e.Server.Backend().Size()
	fmt.Printf("database: %s\n\n", human(dbSize))

	modes := []string{"idle", "discard", "file", "etcdbrctl"}
	results := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for _, m := range modes {
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", m, r))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			res, err := runChild(m, endpoint, dir, profile)
			if err != nil {
				return err
			}
			results[m] = append(results[m], res)
			os.RemoveAll(dir)
		}
	}
	idle := best(results["idle"]).maxRSS
	fmt.Printf("%-34s %9s %10s %11s %12s\n", "mode", "seconds", "MB/s", "peak RSS", "RSS growth")
	for _, m := range modes[1:] {
		b := best(results[m])
		fmt.Printf("%-34s %9.2f %10.1f %11s %12s\n", label(m), b.seconds, float64(dbSize)/1e6/b.seconds,
			human(b.maxRSS), human(b.maxRSS-idle))
	}
	ours, plain := best(results["etcdbrctl"]), best(results["file"])
	ratio := plain.seconds / ours.seconds
	growth := ours.maxRSS - idle
	fmt.Printf("\nthroughput vs plain file: %.0f%% (goal >= 80%%: %s)\n", 100*ratio, verdict(ratio >= 0.8))
	fmt.Printf("peak RSS growth: %s (goal <= 64 MiB: %s)\n", human(growth), verdict(growth <= 64<<20))
	fmt.Printf("stored size: %s of %s database (%.1fx)\n", human(ours.stored), human(dbSize), float64(dbSize)/float64(max(ours.stored, 1)))
	return nil
}

func label(m string) string {
	switch m {
	case "discard":
		return "Maintenance.Snapshot -> io.Discard"
	case "file":
		return "Maintenance.Snapshot -> local file"
	}
	return "etcdbrctl full -> file store"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

type result struct {
	seconds float64
	maxRSS  int64
	stored  int64
}

func best(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].seconds < rs[j].seconds })
	b := rs[0]
	for _, r := range rs {
		b.maxRSS = max(b.maxRSS, r.maxRSS) // report the worst memory, the best time
	}
	return b
}

func runChild(mode, endpoint, dir, profile string) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, "-mode", mode, "-endpoint", endpoint, "-out", dir, "-cpuprofile", profile)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("mode %s: %w", mode, err)
	}
	var res result
	if _, err := fmt.Sscan(string(out), &res.seconds, &res.stored, &res.maxRSS); err != nil {
		return result{}, fmt.Errorf("mode %s printed %q", mode, out)
	}
	return res, nil
}

// measure runs one mode and prints "seconds storedBytes peakRSSBytes".
func measure(mode, endpoint, out string) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	var stored int64
	switch mode {
	case "idle":
		if _, err := c.Get(ctx, "x"); err != nil {
			return err
		}
	case "discard", "file":
		rc, err := c.Snapshot(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		var w io.Writer = io.Discard
		var f *os.File
		if mode == "file" {
			if f, err = os.Create(filepath.Join(out, "snapshot.db")); err != nil {
				return err
			}
			w = f
		}
		if stored, err = io.Copy(w, rc); err != nil {
			return err
		}
		if f != nil {
			if err := f.Sync(); err != nil {
				return err
			}
			f.Close()
		}
	case "etcdbrctl":
		store, err := file.New(out)
		if err != nil {
			return err
		}
		m, err := backup.TakeFull(ctx, c, store, backup.Encryption{}, time.Now())
		if err != nil {
			return err
		}
		stored = m.Size
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	took := time.Since(start).Seconds()
	hwm, err := peakRSS()
	if err != nil {
		return err
	}
	fmt.Println(took, stored, hwm)
	return nil
}

// peakRSS reads VmHWM, this process's peak resident set. (The rusage a
// parent gets counts memory from before exec, so it is no use here.)
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

func startEtcd(dir string) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.ListenMetricsUrls = nil
	cfg.QuotaBackendBytes = 8 << 30
	cfg.UnsafeNoFsync = true // filling faster; the snapshot read path is unchanged
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready")
	}
	return e, "http://" + e.Clients[0].Addr().String(), nil
}

// fill writes values until size bytes were written, 32 keys per transaction.
func fill(endpoint string, size int64, values valueMaker) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, MaxCallSendMsgSize: 8 << 20, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	var written atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 7))
			for written.Load() < size {
				ops := make([]clientv3.Op, 32)
				for j := range ops {
					i := int(next.Add(1))
					v := values(rng, i)
					written.Add(int64(len(v)))
					ops[j] = clientv3.OpPut(fmt.Sprintf("/registry/pods/bench/%09d", i), string(v))
				}
				if _, err := c.Txn(context.Background()).Then(ops...).Commit(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30 || n <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20 || n <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n/1024)
}
