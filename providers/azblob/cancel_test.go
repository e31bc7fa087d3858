package azblob

import (
	"context"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
)

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// A Put cancelled after several blocks were staged leaves those blocks
// uncommitted: the blob is neither listed nor readable.
func TestCancelledUploadLeavesNothingListed(t *testing.T) {
	srv := testserver.StartAzurite(t, "backups")
	s := openStore(t, srv, "azblob://backups/cancel?account="+testserver.AzuriteAccount, Options{BlockSize: 1 << 20, Concurrency: 2})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := &cancelAfter{r: io.LimitReader(mathrand.NewChaCha8([32]byte{7}), 64<<20), n: 5 << 20, cancel: cancel}
	err := s.Put(ctx, "big", src)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want an error matching context.Canceled", err)
	}
	if objects, err := s.List(t.Context(), ""); err != nil || len(objects) != 0 {
		t.Fatalf("after a cancelled Put, List = %v, %v; want nothing", objects, err)
	}
	if _, err := s.Get(t.Context(), "big"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("after a cancelled Put, Get = %v, want ErrNotFound", err)
	}
	// The upload did stage blocks; they stay outside any blob.
	c, err := s.clients.get()
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.NewBlockBlobClient("cancel/big").GetBlockList(t.Context(), blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		t.Fatalf("GetBlockList: %v", err)
	}
	if len(list.UncommittedBlocks) == 0 {
		t.Errorf("no uncommitted blocks: the upload was cancelled before staging any, so this test proves nothing")
	}
}
