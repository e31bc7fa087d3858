package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"etcdbrctl/internal/testserver"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// cloudStores start a real server per provider and return the --store URL
// for a fresh bucket, with the provider's credentials in the environment.
var cloudStores = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"s3", func(t *testing.T) string {
		s := testserver.StartS3(t)
		bucket := s.CreateBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
		return fmt.Sprintf("s3://%s/etcd/main?region=%s&endpoint=%s&force-path-style=true", bucket, s.Region, s.Endpoint)
	}},
	{"gcs", func(t *testing.T) string {
		f := testserver.StartFakeGCS(t, "backups")
		return "gs://backups/etcd/main?endpoint=" + f.Endpoint
	}},
	{"azblob", func(t *testing.T) string {
		a := testserver.StartAzurite(t, "backups")
		t.Setenv("AZURE_STORAGE_KEY", testserver.AzuriteKey)
		return fmt.Sprintf("azblob://backups/etcd/main?account=%s&endpoint=%s", testserver.AzuriteAccount, a.Endpoint)
	}},
	{"swift", func(t *testing.T) string {
		s := testserver.StartSwift(t)
		s.CreateContainer(t, "backups")
		t.Setenv("OS_AUTH_URL", s.AuthURL)
		t.Setenv("OS_USERNAME", s.User)
		t.Setenv("OS_PASSWORD", s.Key)
		return "swift://backups/etcd/main"
	}},
}

// TestRunOnCloudStores: write keys, snapshot, stop, wipe the data dir, start
// again: every key is back, restored from the cloud store.
func TestRunOnCloudStores(t *testing.T) {
	for _, cs := range cloudStores {
		t.Run(cs.name, func(t *testing.T) {
			n := newNode(t, "--delta-snapshot-period", "1h")
			n.store = cs.start(t)
			p := n.start()
			c := n.client()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			put := func(from, to int) {
				for i := from; i < to; i++ {
					if _, err := c.Put(ctx, fmt.Sprintf("key/%04d", i), fmt.Sprintf("value-%d", i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			put(0, 200)
			full := n.snapshot()
			put(200, 250)
			delta := n.postDelta()
			if delta.Kind != "delta" || delta.Revision <= full.Revision {
				t.Fatalf("delta %+v after full %+v", delta, full)
			}
			put(250, 260) // stored by the final delta on stop
			if code := p.term(t); code != 0 {
				t.Fatalf("exit code %d", code)
			}

			if err := os.RemoveAll(n.dataDir); err != nil {
				t.Fatal(err)
			}
			n.start()
			c = n.client()
			resp, err := c.Get(ctx, "key/", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) != 260 {
				t.Fatalf("%d keys after the restore from %s, want 260", len(resp.Kvs), cs.name)
			}

			code, out := runCLI(t, "list", "--json", "--store", n.store)
			var backups []map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &backups) != nil || len(backups) < 3 {
				t.Fatalf("list --json: exit %d:\n%s", code, out)
			}
		})
	}
}

// postDelta asks the running node for a delta snapshot now.
func (n *node) postDelta() manifest {
	n.t.Helper()
	resp, err := http.Post(n.apiURL()+"/snapshot/delta", "", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		n.t.Fatalf("POST /snapshot/delta: status %d, %+v, %v", resp.StatusCode, m, err)
	}
	return m
}
