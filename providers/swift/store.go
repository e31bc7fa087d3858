// Package swift stores backup objects in an OpenStack Swift container
// (store URL swift://container/prefix).
//
// An object no larger than one segment is written with a single PUT. A
// larger one is cut into segments, uploaded one after the other through one
// in-memory segment buffer (so memory stays at one segment whatever the
// size; each segment after the first is sent while it is read, and kept to
// be sent again if a try fails) into a container of their own,
// "<container>_segments" by default. The object becomes visible only when
// its static large object (SLO) manifest is written, last.
// Keeping segments out of the objects' container means a listing never
// meets them, and lets other Swift tools recognise the usual layout. A
// failed or cancelled Put deletes the segments it wrote and never writes the
// manifest; what a crash leaves behind, RemoveLeftovers deletes.
//
// Credentials come from the OS_* environment variables (Keystone, or v1 auth
// such as tempauth when OS_AUTH_URL ends in /auth/v1.0 or OS_AUTH_VERSION is
// 1), or from the files gardener's etcd-backup-restore reads: a directory
// named by OPENSTACK_APPLICATION_CREDENTIALS with one file per field, or a
// JSON file named by OPENSTACK_APPLICATION_CREDENTIALS_JSON. Files are read
// again before each operation, and changed values are used at once.
package swift

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"etcdbrctl/providers"
)

// DefaultSegmentSize is the segment size when Options leave it unset.
const DefaultSegmentSize = 64 << 20

// Options tune a Store; the zero value is ready to use.
type Options struct {
	// SegmentSize is the size of each segment of a large object, and so the
	// memory one Put holds; objects up to this size take a single PUT.
	// Swift caps a manifest at 1,000 segments by default, so the largest
	// object is 1,000 times this. Default DefaultSegmentSize (64 MiB).
	SegmentSize int64
	// SegmentContainer holds the segments of large objects; it is created
	// when first needed. Default "<container>_segments".
	SegmentContainer string
	// MaxAttempts bounds the tries of one request that fails with a
	// connection error, 429 or 5xx. Default 5.
	MaxAttempts int
}

// Store is a providers.Store in a Swift container.
type Store struct {
	container    string
	segContainer string
	prefix       string // "" or ending in "/"
	segmentSize  int64
	conn         *connector

	mu                sync.Mutex
	segContainerReady bool
	maxSegments       int // from the cluster's /info, once known
}

var (
	_ providers.Store           = (*Store)(nil)
	_ providers.LeftoverRemover = (*Store)(nil)
)

// New authenticates and returns a store for loc (scheme "swift"). The one
// query parameter understood is region, which picks the object-store
// endpoint from the Keystone catalog instead of OS_REGION_NAME. Nothing is
// created: the container must exist.
func New(ctx context.Context, loc providers.Location, opts Options) (*Store, error) {
	return newStore(ctx, loc, opts, os.Getenv)
}

func newStore(ctx context.Context, loc providers.Location, opts Options, getenv func(string) string) (*Store, error) {
	if loc.Scheme != "swift" {
		return nil, fmt.Errorf("swift store: scheme %q in %s, want swift://container/prefix", loc.Scheme, loc)
	}
	if loc.Bucket == "" {
		return nil, fmt.Errorf("swift store %s: missing container (write swift://container/prefix)", loc)
	}
	var region string
	for name, values := range loc.Query {
		if name != "region" {
			return nil, fmt.Errorf("swift store %s: unknown parameter %q (known: region)", loc, name)
		}
		region = values[len(values)-1]
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentSize < 1<<20 || opts.SegmentSize > 5<<30 {
		// Each Put holds a segment in memory, and 5 GiB is Swift's default
		// limit on one object.
		return nil, fmt.Errorf("swift store: segment size %d is outside 1 MiB to 5 GiB", opts.SegmentSize)
	}
	if opts.SegmentContainer == "" {
		opts.SegmentContainer = loc.Bucket + "_segments"
	}
	if strings.Contains(opts.SegmentContainer, "/") || opts.SegmentContainer == loc.Bucket {
		return nil, fmt.Errorf("swift store: segment container %q must be a container name other than %q", opts.SegmentContainer, loc.Bucket)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	prefix := loc.Prefix
	if prefix != "" {
		prefix += "/"
	}
	s := &Store{
		container:    loc.Bucket,
		segContainer: opts.SegmentContainer,
		prefix:       prefix,
		segmentSize:  opts.SegmentSize,
		conn: &connector{
			getenv: getenv,
			region: region,
			httpClient: http.Client{Transport: &retryTransport{
				base:        http.DefaultTransport.(*http.Transport).Clone(),
				maxAttempts: opts.MaxAttempts,
				minDelay:    200 * time.Millisecond,
				maxDelay:    10 * time.Second,
			}},
		},
	}
	if _, err := s.conn.get(ctx); err != nil {
		return nil, fmt.Errorf("swift store %s: %w", loc, err)
	}
	return s, nil
}

// String returns the store's URL.
func (s *Store) String() string {
	if s.prefix == "" {
		return "swift://" + s.container
	}
	return "swift://" + s.container + "/" + strings.TrimSuffix(s.prefix, "/")
}

// name is the Swift object name of a key.
func (s *Store) name(key string) string { return s.prefix + key }

// validateKey rejects keys Swift cannot hold as they are.
func validateKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key")
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("key %q contains a NUL byte", key)
	}
	return nil
}

// objectURL is the URL of an object, each path segment escaped on its own
// so that slashes stay slashes for proxies in front of Swift.
func objectURL(c *gophercloud.ServiceClient, container, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.ServiceURL(url.PathEscape(container), strings.Join(parts, "/"))
}

func containerURL(c *gophercloud.ServiceClient, container string) string {
	return c.ServiceURL(url.PathEscape(container))
}

// request runs one request; every caller names the codes it accepts.
func request(ctx context.Context, c *gophercloud.ServiceClient, method, u string, opts *gophercloud.RequestOpts) (*http.Response, error) {
	if opts.MoreHeaders == nil {
		opts.MoreHeaders = map[string]string{}
	}
	resp, err := c.Request(ctx, method, u, opts)
	return resp, classify(err)
}
