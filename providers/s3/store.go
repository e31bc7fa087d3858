// Package s3 stores backup objects in an Amazon S3 bucket or an
// S3-compatible server, under a key prefix.
//
// An object becomes visible only when its upload completes: small objects
// are one PutObject, larger ones a multipart upload that is completed at the
// end or aborted on failure. Uploads stream: memory is about
// PartSize × (Concurrency + 3), whatever the object's size (the part buffers
// being sent, the one being filled, and the first part, read before it is
// known whether the object needs more than one).
package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/providers"
)

const (
	// MinPartSize is the smallest multipart part S3 accepts (but the last).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest.
	MaxPartSize = 5 << 30
	// DefaultPartSize and DefaultConcurrency are used for zero Options.
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
)

// Options tune uploads. Zero values take the defaults.
type Options struct {
	// PartSize is the size of each part of a multipart upload, and the size
	// up to which an object is sent as one PutObject. An object can have at
	// most 10,000 parts, so PartSize bounds the object size: 8 MiB parts
	// allow 78 GiB.
	PartSize int64
	// Concurrency is how many parts are sent at once.
	Concurrency int

	// credentialRecheck overrides how soon a changed credential file is
	// noticed; tests shorten it.
	credentialRecheck time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.credentialRecheck == 0 {
		o.credentialRecheck = credentialRecheck
	}
	switch {
	case o.PartSize < MinPartSize:
		return o, fmt.Errorf("part size %d is below S3's minimum of 5 MiB (%d bytes)", o.PartSize, MinPartSize)
	case o.PartSize > MaxPartSize:
		return o, fmt.Errorf("part size %d is above S3's maximum of 5 GiB (%d bytes)", o.PartSize, int64(MaxPartSize))
	case o.Concurrency < 0:
		return o, fmt.Errorf("concurrency %d: want at least 1", o.Concurrency)
	}
	return o, nil
}

// Store is a providers.Store in an S3 bucket.
type Store struct {
	client   *s3.Client
	uploader *manager.Uploader
	bucket   string
	root     string // key prefix with a trailing slash, or empty
	location string // the store URL, safe to print
}

var (
	_ providers.Store           = (*Store)(nil)
	_ providers.LeftoverRemover = (*Store)(nil)
)

// New returns a store for loc, a location parsed from
//
//	s3://bucket/prefix?region=R&endpoint=http://host:port&force-path-style=true
//
// All query parameters are optional. Keys come from the file named by
// AWS_APPLICATION_CREDENTIALS_JSON (a JSON file) or AWS_APPLICATION_CREDENTIALS
// (a directory with one file per field), read again when it changes;
// otherwise from the SDK's default chain (AWS_ACCESS_KEY_ID..., the shared
// profile, web identity). The URL's region, endpoint and path style win over
// those of a credential file. New sends no request: a missing bucket or
// refused access shows at the first operation.
func New(ctx context.Context, loc providers.Location, opts Options) (*Store, error) {
	if loc.Scheme != "s3" {
		return nil, fmt.Errorf("s3 store: URL scheme %q, want s3", loc.Scheme)
	}
	if loc.Bucket == "" {
		return nil, errors.New("s3 store: missing bucket (write s3://bucket/prefix)")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", loc, err)
	}
	set, err := settingsFromQuery(loc.Query)
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", loc, err)
	}
	client, err := newClient(ctx, set, opts.credentialRecheck)
	if err != nil {
		return nil, fmt.Errorf("s3 store %s: %w", loc, err)
	}
	root := ""
	if loc.Prefix != "" {
		root = loc.Prefix + "/"
	}
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.Concurrency
		// Put aborts a failed upload itself, with a context that is not
		// already cancelled (the uploader would reuse the caller's).
		u.LeavePartsOnError = true
	})
	return &Store{client: client, uploader: uploader, bucket: loc.Bucket, root: root, location: loc.String()}, nil
}

// String returns the store URL with secret-looking values redacted.
func (s *Store) String() string { return s.location }

// objectKey is the full S3 key of a store key.
func (s *Store) objectKey(key string) string { return s.root + key }

func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return nil
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("s3 delete: %w", err)
	}
	full := s.objectKey(key)
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(full)})
	if err != nil && !isNoSuchKey(err) {
		return s.opError(ctx, "delete", full, err)
	}
	return nil
}
