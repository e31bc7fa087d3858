// Package gcs stores backups in Google Cloud Storage: gs://bucket/prefix.
//
// Objects are written with resumable uploads, which GCS makes visible only
// when the last chunk is committed: an upload cut short leaves no object and
// nothing to clean up.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/iterator"

	"etcdbrctl/providers"
)

var _ providers.Store = (*Store)(nil)

// Options tunes a Store; zero values take the defaults.
type Options struct {
	// ChunkSize is how many bytes an upload sends per request and keeps in
	// memory to resend after a failure; GCS rounds it up to a multiple of
	// 256 KiB. Default 8 MiB.
	ChunkSize int
	// ChunkRetryDeadline bounds how long one upload chunk is retried (the
	// SDK retries chunks until this deadline, not MaxAttempts times).
	// Default 32 s.
	ChunkRetryDeadline time.Duration
	// MaxAttempts bounds the attempts of every other request (listing,
	// reading, deleting). Default 6.
	MaxAttempts int
	// CredentialsFile is a Google credentials JSON file, re-read whenever it
	// changes. Default: $GOOGLE_APPLICATION_CREDENTIALS; if that is unset
	// too, the SDK's application-default credentials.
	CredentialsFile string
}

const (
	defaultChunkSize          = 8 << 20
	defaultChunkRetryDeadline = 32 * time.Second
	defaultMaxAttempts        = 6
)

func (o Options) withDefaults() Options {
	if o.ChunkSize <= 0 {
		o.ChunkSize = defaultChunkSize
	}
	if o.ChunkRetryDeadline <= 0 {
		o.ChunkRetryDeadline = defaultChunkRetryDeadline
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	return o
}

// Store is a providers.Store on one GCS bucket, under a key prefix.
type Store struct {
	client *storage.Client
	bucket *storage.BucketHandle
	loc    providers.Location
	base   string // prefix of every object name: "" or "prefix/"
	opts   Options
}

// New opens the bucket of loc (a gs:// URL from providers.ParseURL). Keys are
// relative to loc.Prefix. The query parameter "endpoint" names another
// server (e.g. an emulator: http://127.0.0.1:4443); STORAGE_EMULATOR_HOST
// is honoured as the SDK does. New makes no request.
func New(ctx context.Context, loc providers.Location, opts Options) (*Store, error) {
	if loc.Scheme != "gs" {
		return nil, fmt.Errorf("gcs: store URL %s: scheme %q, want gs", loc, loc.Scheme)
	}
	if loc.Bucket == "" {
		return nil, fmt.Errorf("gcs: store URL %s: missing bucket", loc)
	}
	for name := range loc.Query {
		if name != "endpoint" {
			return nil, fmt.Errorf("gcs: store URL %s: unknown parameter %q (known: endpoint)", loc, name)
		}
	}
	opts = opts.withDefaults()
	clientOpts, err := clientOptions(loc, opts)
	if err != nil {
		return nil, fmt.Errorf("gcs: store URL %s: %w", loc, err)
	}
	client, err := storage.NewClient(ctx, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: store URL %s: %w", loc, redactError(err))
	}
	// Every write is a whole object under a name the caller chose, so
	// repeating it is harmless: retry all requests, not only those GCS
	// calls idempotent. Backoff and attempts stay bounded (upload chunks by
	// ChunkRetryDeadline), and a cancelled context ends the waiting at once.
	// The SDK's own test is passed on explicitly: without it, uploads fall
	// back to a narrower one that gives up when a connection is closed
	// before the response (EOF), as a restarting proxy does.
	client.SetRetry(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithErrorFunc(storage.ShouldRetry),
		storage.WithBackoff(gax.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}),
		storage.WithMaxAttempts(opts.MaxAttempts),
	)
	base := ""
	if loc.Prefix != "" {
		base = loc.Prefix + "/"
	}
	return &Store{client: client, bucket: client.Bucket(loc.Bucket), loc: loc, base: base, opts: opts}, nil
}

// Close releases the client's connections.
func (s *Store) Close() error { return s.client.Close() }

// Put uploads r with a resumable upload. On any failure the upload's context
// is cancelled before the last chunk is sent, so no object appears and an
// older object under key stays as it was.
//
// The size and CRC32C GCS reports for the new object are checked against the
// bytes read from r. GCS itself refuses a final chunk whose object checksum
// does not match; the check here also covers servers that do not (emulators
// that append a resent chunk twice), by deleting what they stored.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return s.fail("put", key, err)
	}
	obj := s.bucket.Object(s.base + key)
	uploadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(uploadCtx)
	w.ChunkSize = s.opts.ChunkSize
	w.ChunkRetryDeadline = s.opts.ChunkRetryDeadline
	w.ContentType = "application/octet-stream"
	sent := crc32.New(castagnoli)
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(w, sent), contextReader{ctx: ctx, r: r}, buf)
	if err != nil {
		cancel()
		w.Close() // returns the cancellation; it only waits for the upload to end
		return s.fail("put", key, withContextError(ctx, err))
	}
	if err := w.Close(); err != nil {
		return s.fail("put", key, withContextError(ctx, err))
	}
	stored := w.Attrs()
	if stored.Size == n && (stored.CRC32C == 0 || stored.CRC32C == sent.Sum32()) {
		return nil
	}
	err = fmt.Errorf("the stored object differs from the %d bytes sent (%d bytes, CRC32C %08x instead of %08x)",
		n, stored.Size, stored.CRC32C, sent.Sum32())
	// Remove exactly the generation this upload made, not a newer one.
	if derr := obj.If(storage.Conditions{GenerationMatch: stored.Generation}).Delete(context.WithoutCancel(ctx)); derr != nil {
		err = fmt.Errorf("%w; removing it failed: %w", err, derr)
	} else {
		err = fmt.Errorf("%w; removed it", err)
	}
	return s.fail("put", key, err)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Get opens the object under key; the reader lives as long as ctx.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, s.fail("get", key, err)
	}
	rc, err := s.bucket.Object(s.base + key).NewReader(ctx)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return rc, nil
}

// List returns the objects whose key starts with prefix, in key order.
// Resumable uploads in progress are not objects yet and are never listed.
func (s *Store) List(ctx context.Context, prefix string) ([]providers.Object, error) {
	q := &storage.Query{Prefix: s.base + prefix, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "Created"}); err != nil {
		return nil, s.fail("list", prefix, err)
	}
	it := s.bucket.Objects(ctx, q)
	var out []providers.Object
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, s.fail("list", prefix, err)
		}
		mod := attrs.Updated
		if mod.IsZero() {
			mod = attrs.Created
		}
		out = append(out, providers.Object{
			Key:     strings.TrimPrefix(attrs.Name, s.base),
			Size:    attrs.Size,
			ModTime: mod,
		})
	}
	// GCS lists in name order already; sorting keeps the promise whatever
	// a server's paging does.
	slices.SortFunc(out, func(a, b providers.Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object under key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return s.fail("delete", key, err)
	}
	err := s.bucket.Object(s.base + key).Delete(ctx)
	if err == nil || errors.Is(err, storage.ErrObjectNotExist) {
		return nil
	}
	return s.fail("delete", key, err)
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return nil
}

// contextReader stops handing out bytes once ctx is done, so that an upload
// ends as soon as its caller gives up, even while the source still flows.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// withContextError makes sure that a failure caused by the caller's
// cancellation matches ctx's error.
func withContextError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return err
}
