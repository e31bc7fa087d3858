package datadir

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"etcdbrctl/internal/etcdtest"
)

// startEtcd runs an embedded etcd on dir and returns a client and a stop
// function that closes both cleanly. Cleanup stops them too.
func startEtcd(t *testing.T, dir string) (*clientv3.Client, func()) {
	t.Helper()
	e, cli := etcdtest.Start(t, dir)
	return cli, func() {
		cli.Close()
		etcdtest.Stop(e)
	}
}

func freeAddr(t *testing.T) string { return etcdtest.FreeAddr(t) }

// putKeys writes n keys of about 1 KiB each, in transactions of up to 100,
// and returns the revision of the last write.
func putKeys(ctx context.Context, t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	value := string(make([]byte, 1024))
	var rev int64
	for start := 0; start < n; start += 100 {
		var ops []clientv3.Op
		for i := start; i < min(start+100, n); i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%06d", prefix, i), value))
		}
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatalf("put keys: %v", err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// copyTree copies the directory src to dst, which must not exist.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Mkdir(target, info.Mode().Perm())
		}
		return copyFile(path, target, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// treeListing describes every entry under dir, relative to it, by type,
// size and content, so that two listings are equal only when the trees are.
func treeListing(t *testing.T, dir string) map[string]string {
	t.Helper()
	listing := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			listing[rel] = "dir"
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		listing[rel] = fmt.Sprintf("%v %d %x", info.Mode(), len(data), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return listing
}
