// Package azblob stores backups in Azure Blob Storage:
// azblob://container/prefix?account=NAME[&endpoint=URL].
//
// Objects are block blobs: blocks are staged, then committed in one request.
// Staged blocks that were never committed are not part of any blob, so an
// upload cut short is never listed; Azure discards such blocks after a week.
package azblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"etcdbrctl/providers"
)

var _ providers.Store = (*Store)(nil)

// Options tunes a Store; zero values take the defaults.
type Options struct {
	// BlockSize is the size of each staged block. Default 8 MiB; a blob
	// holds at most 50,000 blocks, so 8 MiB allows objects up to 390 GiB.
	BlockSize int64
	// Concurrency is how many blocks are staged at once. An upload holds
	// at most Concurrency blocks in memory. Default 4.
	Concurrency int
	// MaxRetries bounds the retries of each request. Default 5.
	MaxRetries int32
}

const (
	defaultBlockSize   = 8 << 20
	defaultConcurrency = 4
	defaultMaxRetries  = 5
	maxBlocks          = 50_000
)

func (o Options) withDefaults() Options {
	if o.BlockSize <= 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = defaultMaxRetries
	}
	return o
}

// Store is a providers.Store on one container, under a key prefix.
type Store struct {
	clients   *clientCache
	container string
	base      string // prefix of every blob name: "" or "prefix/"
	opts      Options
}

// New opens the container of loc (an azblob:// URL from providers.ParseURL).
// Keys are relative to loc.Prefix. The query parameter "account" names the
// storage account and "endpoint" replaces the service URL (for Azurite:
// http://127.0.0.1:10000/devstoreaccount1). Credentials come, in this order,
// from AZURE_APPLICATION_CREDENTIALS_JSON (a JSON file) or
// AZURE_APPLICATION_CREDENTIALS (a directory with one file per field), both
// re-read when they change; AZURE_STORAGE_CONNECTION_STRING;
// AZURE_STORAGE_KEY with AZURE_STORAGE_ACCOUNT or the account parameter;
// else Azure's default credential chain. New makes no request.
func New(ctx context.Context, loc providers.Location, opts Options) (*Store, error) {
	if loc.Scheme != "azblob" {
		return nil, fmt.Errorf("azblob: store URL %s: scheme %q, want azblob", loc, loc.Scheme)
	}
	if loc.Bucket == "" {
		return nil, fmt.Errorf("azblob: store URL %s: missing container", loc)
	}
	for name := range loc.Query {
		if name != "account" && name != "endpoint" {
			return nil, fmt.Errorf("azblob: store URL %s: unknown parameter %q (known: account, endpoint)", loc, name)
		}
	}
	opts = opts.withDefaults()
	clients, err := newClientCache(loc, opts)
	if err != nil {
		return nil, fmt.Errorf("azblob: store URL %s: %w", loc, err)
	}
	base := ""
	if loc.Prefix != "" {
		base = loc.Prefix + "/"
	}
	return &Store{clients: clients, container: loc.Bucket, base: base, opts: opts}, nil
}

// Put stages r in blocks and commits them; see upload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	c, err := s.client(key)
	if err != nil {
		return s.fail("put", key, err)
	}
	if err := upload(ctx, c.NewBlockBlobClient(s.base+key), r, s.opts); err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// Get opens the blob under key. A read that breaks off is resumed where it
// stopped, as long as the blob is unchanged.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c, err := s.client(key)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	resp, err := c.NewBlobClient(s.base+key).DownloadStream(ctx, nil)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: s.opts.MaxRetries}), nil
}

// List returns the committed blobs whose key starts with prefix, in key
// order, following the listing's pages.
func (s *Store) List(ctx context.Context, prefix string) ([]providers.Object, error) {
	c, err := s.clients.get()
	if err != nil {
		return nil, s.fail("list", prefix, err)
	}
	pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr(s.base + prefix)})
	var out []providers.Object
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		for _, item := range page.Segment.BlobItems {
			if item.Name == nil || item.Properties == nil {
				continue
			}
			o := providers.Object{Key: strings.TrimPrefix(*item.Name, s.base)}
			if item.Properties.ContentLength != nil {
				o.Size = *item.Properties.ContentLength
			}
			if item.Properties.LastModified != nil {
				o.ModTime = *item.Properties.LastModified
			}
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b providers.Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the blob under key with its snapshots; a missing blob is
// not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	c, err := s.client(key)
	if err != nil {
		return s.fail("delete", key, err)
	}
	_, err = c.NewBlobClient(s.base+key).Delete(ctx, &blob.DeleteOptions{
		DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
	})
	if err == nil || bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	return s.fail("delete", key, err)
}

func (s *Store) client(key string) (*container.Client, error) {
	if key == "" {
		return nil, errors.New("empty key")
	}
	return s.clients.get()
}
