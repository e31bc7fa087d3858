package snapstream

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkInspector measures Inspector throughput over a real snapshot of about 24 MiB,
// beside sha256 alone: the trailer check every reader of a snapshot pays anyway.
func BenchmarkInspector(b *testing.B) {
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	cli := startEtcd(b)
	value := strings.Repeat("v", 2000)
	for start := 0; start < 10000; start += 100 {
		var ops []clientv3.Op
		for i := start; i < start+100; i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("bench/%06d", i), value))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	_, stream := streamSnapshot(ctx, b, cli)

	b.Run("sha256 only", func(b *testing.B) {
		b.SetBytes(int64(len(stream)))
		for b.Loop() {
			h := sha256.New()
			for chunk := range chunks(stream, 32<<10) {
				h.Write(chunk)
			}
			h.Sum(nil)
		}
	})
	for _, size := range []int{4 << 10, 32 << 10, 65537} {
		b.Run(fmt.Sprintf("inspector, %d-byte writes", size), func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				in := NewInspector()
				for chunk := range chunks(stream, size) {
					if _, err := in.Write(chunk); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := in.Finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// chunks yields b in pieces of size bytes.
func chunks(b []byte, size int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			n := min(size, len(b))
			if !yield(b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}
