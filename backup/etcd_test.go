package backup

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"etcdbrctl/internal/etcdtest"
)

func startEtcd(t *testing.T, dir string) (*embed.Etcd, *clientv3.Client) {
	return etcdtest.Start(t, dir)
}

func freeAddr(t *testing.T) string { return etcdtest.FreeAddr(t) }

func key(i int) string { return fmt.Sprintf("k/%06d", i) }
