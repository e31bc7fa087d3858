package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"etcdbrctl/backup"
	"etcdbrctl/providers/file"
)

// backupInfo describes the generated backup; it is cached beside it.
type backupInfo struct {
	Config        config `json:"config"`
	DBSize        int64  `json:"db_size"`
	FullRevision  int64  `json:"full_revision"`
	FullStored    int64  `json:"full_stored"`
	Events        int64  `json:"events"`
	Segments      int    `json:"segments"`
	DeltaStored   int64  `json:"delta_stored"`
	FinalRevision int64  `json:"final_revision"`
}

// prepare generates the backup into cache, or reuses one generated there
// with the same settings.
func prepare(cache string, cfg config) (backupInfo, error) {
	infoPath := filepath.Join(cache, "backup.json")
	if b, err := os.ReadFile(infoPath); err == nil {
		var info backupInfo
		if json.Unmarshal(b, &info) == nil && info.Config == cfg {
			fmt.Printf("reusing the backup in %s\n", cache)
			return info, nil
		}
	}
	if err := os.RemoveAll(storeDir(cache)); err != nil {
		return backupInfo{}, err
	}
	store, err := file.New(storeDir(cache))
	if err != nil {
		return backupInfo{}, err
	}
	info := backupInfo{Config: cfg}
	start := time.Now()
	keys, err := fullSnapshot(cache, cfg, store, &info)
	if err != nil {
		return backupInfo{}, err
	}
	fmt.Printf("full snapshot generated in %s\n", time.Since(start).Round(time.Second))
	start = time.Now()
	if err := deltaSegments(cfg, store, keys, &info); err != nil {
		return backupInfo{}, err
	}
	fmt.Printf("delta segments generated in %s\n", time.Since(start).Round(time.Second))
	b, err := json.Marshal(info)
	if err != nil {
		return backupInfo{}, err
	}
	return info, os.WriteFile(infoPath, b, 0o600)
}

// keySpace follows every key's create revision and version, so generated
// events carry exactly what etcd would have written.
type keySpace struct {
	create  []int64 // by key number; 0: never created or deleted
	version []int64
	live    []int32 // key numbers of the live keys
	at      []int32 // position of a key number in live, -1 when not live
}

func (k *keySpace) add(rev int64) int32 {
	n := int32(len(k.create))
	k.create = append(k.create, rev)
	k.version = append(k.version, 1)
	k.at = append(k.at, int32(len(k.live)))
	k.live = append(k.live, n)
	return n
}

func (k *keySpace) remove(n int32) {
	i := k.at[n]
	last := k.live[len(k.live)-1]
	k.live[i], k.at[last] = last, i
	k.live = k.live[:len(k.live)-1]
	k.at[n], k.create[n], k.version[n] = -1, 0, 0
}

func keyName(n int32) string { return fmt.Sprintf("/registry/bench/%09d", n) }

// value is 100-1000 bytes of hex: about as compressible as etcd's values.
func value(rng *mrand.Rand) []byte {
	raw := make([]byte, (100+rng.IntN(901)+1)/2)
	for i := 0; i < len(raw); i += 8 {
		v := rng.Uint64()
		for j := i; j < min(i+8, len(raw)); j++ {
			raw[j] = byte(v)
			v >>= 8
		}
	}
	return []byte(hex.EncodeToString(raw))
}

// fullSnapshot fills an embedded etcd to the wanted database size in large
// transactions and takes a full snapshot of it.
func fullSnapshot(cache string, cfg config, store *file.Store, info *backupInfo) (*keySpace, error) {
	dir := filepath.Join(cache, "generate-etcd")
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	e, c, err := startEtcd(dir)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	defer c.Close()
	ctx := context.Background()
	rng := mrand.New(mrand.NewPCG(cfg.Seed, 1))
	keys := &keySpace{}
	fmt.Printf("filling etcd to %s ...\n", human(cfg.DBSize))
	for txn := 0; ; txn++ {
		if txn%50 == 0 && e.Server.Backend().Size() >= cfg.DBSize {
			break
		}
		first := int32(len(keys.create))
		ops := make([]clientv3.Op, 256)
		for i := range ops {
			ops[i] = clientv3.OpPut(keyName(first+int32(i)), string(value(rng)))
		}
		resp, err := c.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		for range ops {
			keys.add(resp.Header.Revision)
		}
	}
	m, err := backup.TakeFull(ctx, c, store, backup.Encryption{}, time.Now())
	if err != nil {
		return nil, err
	}
	info.DBSize, info.FullRevision, info.FullStored = m.DBSize, m.Revision, m.Size
	return keys, nil
}

// deltaSegments writes cfg.Events events after the full snapshot, one per
// revision: 10% deletes, the rest updates of live keys and new keys.
func deltaSegments(cfg config, store *file.Store, keys *keySpace, info *backupInfo) error {
	rng := mrand.New(mrand.NewPCG(cfg.Seed, 2))
	rev := info.FullRevision
	for done := int64(0); done < cfg.Events; {
		n := min(cfg.SegmentEvents, cfg.Events-done)
		m, err := backup.WriteDelta(context.Background(), store, backup.Encryption{}, rev+1, rev+n, time.Now(), func(w *backup.DeltaWriter) error {
			for i := int64(1); i <= n; i++ {
				if err := w.Event(nextEvent(rng, keys, rev+i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		rev += n
		done += n
		info.Segments++
		info.DeltaStored += m.Size
	}
	info.Events, info.FinalRevision = cfg.Events, rev
	return nil
}

func nextEvent(rng *mrand.Rand, keys *keySpace, rev int64) *mvccpb.Event {
	p := rng.IntN(100)
	if p < 10 && len(keys.live) > 0 {
		n := keys.live[rng.IntN(len(keys.live))]
		keys.remove(n)
		return &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(keyName(n)), ModRevision: rev}}
	}
	var n int32
	if p < 55 && len(keys.live) > 0 {
		n = keys.live[rng.IntN(len(keys.live))]
		keys.version[n]++
	} else {
		n = keys.add(rev)
	}
	return &mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{
		Key: []byte(keyName(n)), Value: value(rng),
		CreateRevision: keys.create[n], ModRevision: rev, Version: keys.version[n],
	}}
}

// startEtcd runs an embedded etcd without fsync on loopback ports.
func startEtcd(dir string) (*embed.Etcd, *clientv3.Client, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.ListenMetricsUrls = nil
	cfg.QuotaBackendBytes = 8 << 30
	cfg.UnsafeNoFsync = true
	cfg.MaxRequestBytes = 8 << 20
	cfg.MaxTxnOps = 1024
	client := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(5 * time.Minute):
		e.Close()
		return nil, nil, errors.New("etcd not ready")
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:          []string{"http://" + e.Clients[0].Addr().String()},
		MaxCallSendMsgSize: 8 << 20,
		Logger:             zap.NewNop(),
	})
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return e, c, nil
}
