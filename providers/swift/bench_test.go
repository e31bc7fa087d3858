package swift

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers/storetest"
)

// BenchmarkTransfer measures the store (default segment size) on the test
// Swift beside a plain gophercloud upload of the file as one object and
// its download:
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/swift
func BenchmarkTransfer(b *testing.B) {
	srv := testserver.StartSwift(b)
	admin := adminClient(b, srv)
	createContainer(b, admin, "bench")
	store := newTestStore(b, srv, "bench", "store", Options{})
	storetest.BenchTransfer(b, store, storetest.SDK{
		PutFile: func(ctx context.Context, path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			return objects.Create(ctx, admin, "bench", "baseline", objects.CreateOpts{Content: f, ContentLength: st.Size()}).Err
		},
		Get: func(ctx context.Context) (io.ReadCloser, error) {
			res := objects.Download(ctx, admin, "bench", "baseline", nil)
			if res.Err != nil {
				return nil, res.Err
			}
			return res.Body, nil
		},
	})
}
