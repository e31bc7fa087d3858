// Package providers defines where backup bytes live: one small Store interface,
// the errors every provider maps its own failures to, and store URL parsing.
// Each provider is a package of its own, named after its URL scheme.
package providers

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store holds backup objects under slash-separated keys.
type Store interface {
	// Put stores an object read from r until EOF; the length is not known in
	// advance. The object is visible under key only once it is complete: on any
	// error, a cancelled ctx included, nothing new is visible under key and a
	// previous object of that key is unchanged.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens an object for reading. A missing key gives an error matching
	// ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the complete objects whose key starts with prefix, in key
	// order. Objects still being written are never listed.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes an object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is one entry of a listing.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

var (
	// ErrNotFound is matched (errors.Is) by every provider's error for a
	// missing object, bucket or directory.
	ErrNotFound = errors.New("not found")
	// ErrPermission is matched by every provider's error for refused access.
	ErrPermission = errors.New("permission denied")
)

// LeftoverRemover is implemented by stores whose interrupted uploads leave
// parts behind (incomplete multipart uploads, orphaned segments, temporary
// files). Garbage collection calls it with a grace period, so that uploads
// still running are never touched.
type LeftoverRemover interface {
	// RemoveLeftovers deletes what interrupted uploads started before
	// olderThan left behind, and reports how many it removed.
	RemoveLeftovers(ctx context.Context, olderThan time.Time) (int, error)
}
