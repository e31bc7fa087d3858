package azblob

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
	"etcdbrctl/providers/storetest"
)

// BenchmarkTransfer measures the store on Azurite (blobs on disk) beside
// the SDK's plain UploadFile (same block size and concurrency) and its
// plain download:
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/azblob
func BenchmarkTransfer(b *testing.B) {
	srv := testserver.StartAzuriteWith(b, testserver.AzuriteOptions{Location: b.TempDir(), Containers: []string{"bench"}})
	for _, name := range []string{
		"AZURE_APPLICATION_CREDENTIALS_JSON", "AZURE_APPLICATION_CREDENTIALS",
		"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT",
	} {
		b.Setenv(name, "")
	}
	b.Setenv("AZURE_STORAGE_KEY", testserver.AzuriteKey)
	loc, err := providers.ParseURL("azblob://bench/transfer?account=" + testserver.AzuriteAccount + "&endpoint=" + srv.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{}.withDefaults()
	s, err := New(b.Context(), loc, opts)
	if err != nil {
		b.Fatal(err)
	}
	c, err := s.clients.get()
	if err != nil {
		b.Fatal(err)
	}
	baseline := c.NewBlockBlobClient("transfer/baseline")
	storetest.BenchTransfer(b, s, storetest.SDK{
		PutFile: func(ctx context.Context, path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = baseline.UploadFile(ctx, f, &blockblob.UploadFileOptions{BlockSize: opts.BlockSize, Concurrency: uint16(opts.Concurrency)})
			return err
		},
		Get: func(ctx context.Context) (io.ReadCloser, error) {
			resp, err := baseline.DownloadStream(ctx, nil)
			if err != nil {
				return nil, err
			}
			return resp.Body, nil
		},
	})
}
