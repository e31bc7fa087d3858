package swift

import (
	"bytes"
	"context"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers"
	"etcdbrctl/providers/storetest"
)

// testSegmentSize makes the suite's 33 MiB object and the 9 MiB failing
// reads cross segment boundaries.
const testSegmentSize = 5 << 20

// TestSwift runs everything that needs a Swift cluster against one started
// for the whole test, as subtests.
func TestSwift(t *testing.T) {
	srv := testserver.StartSwift(t)
	admin := adminClient(t, srv)
	for _, name := range []string{"conformance", "extra"} {
		createContainer(t, admin, name)
	}
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) providers.Store {
			return newTestStore(t, srv, "conformance", "some/prefix", Options{SegmentSize: testSegmentSize})
		})
	})
	t.Run("FailedPutRemovesSegments", func(t *testing.T) { testFailedPutRemovesSegments(t, srv, admin) })
	t.Run("LargeObjectSegments", func(t *testing.T) { testLargeObjectSegments(t, srv, admin) })
	t.Run("RemoveLeftovers", func(t *testing.T) { testRemoveLeftovers(t, srv, admin) })
	t.Run("ErrorMapping", func(t *testing.T) { testErrorMapping(t, srv) })
	t.Run("CredentialFilesReread", func(t *testing.T) { testCredentialFilesReread(t, srv) })
	t.Run("Retries", func(t *testing.T) { testRetries(t, srv) })
}

func v1Env(authURL, user, key string) func(string) string {
	return envOf(map[string]string{"OS_AUTH_URL": authURL, "OS_USERNAME": user, "OS_PASSWORD": key})
}

func newTestStore(t testing.TB, srv testserver.SwiftServer, container, prefix string, opts Options) *Store {
	t.Helper()
	loc := providers.Location{Scheme: "swift", Bucket: container, Prefix: prefix}
	s, err := newStore(context.Background(), loc, opts, v1Env(srv.AuthURL, srv.User, srv.Key))
	if err != nil {
		t.Fatalf("New(%s): %v", loc, err)
	}
	return s
}

// adminClient is a plain gophercloud client, to look at the cluster
// without going through the Store.
func adminClient(t testing.TB, srv testserver.SwiftServer) *gophercloud.ServiceClient {
	t.Helper()
	s := newTestStore(t, srv, "unused", "", Options{})
	c, err := s.conn.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createContainer(t testing.TB, c *gophercloud.ServiceClient, name string) {
	t.Helper()
	_, err := request(context.Background(), c, http.MethodPut, containerURL(c, name), &gophercloud.RequestOpts{OkCodes: []int{201, 202}})
	if err != nil {
		t.Fatalf("creating container %q: %v", name, err)
	}
}

// listNames lists a container's object names under prefix, directly.
func listNames(t *testing.T, c *gophercloud.ServiceClient, container, prefix string) []string {
	t.Helper()
	page, err := objects.List(c, container, objects.ListOpts{Prefix: prefix}).AllPages(t.Context())
	if isStatus(classify(err), http.StatusNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("listing %q in %q: %v", prefix, container, err)
	}
	names, err := objects.ExtractNames(page)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// random returns size pseudo-random bytes for seed, generated as read.
func random(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(mathrand.NewChaCha8(key), size)
}

func readAll(t *testing.T, s providers.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

// testFailedPutRemovesSegments checks that a Put that fails or is cancelled
// after writing segments leaves neither an object nor a segment.
func testFailedPutRemovesSegments(t *testing.T, srv testserver.SwiftServer, admin *gophercloud.ServiceClient) {
	s := newTestStore(t, srv, "extra", "failed", Options{SegmentSize: testSegmentSize})
	errBroken := errors.New("source broke")
	tests := []struct {
		name string
		// source gives 12 MiB, two full segments, then stops the Put.
		source func(cancel context.CancelFunc) io.Reader
		want   error
	}{
		{"failing reader", func(context.CancelFunc) io.Reader {
			return io.MultiReader(random(1, 12<<20), errReader{errBroken})
		}, errBroken},
		{"cancelled", func(cancel context.CancelFunc) io.Reader {
			return io.MultiReader(random(1, 12<<20), cancelReader{cancel}, random(2, 1<<20))
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			key := "obj-" + strings.ReplaceAll(tt.name, " ", "-")
			err := s.Put(ctx, key, tt.source(cancel))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want an error matching %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), `"extra"`) {
				t.Errorf("error %q does not name the key and the container", err)
			}
			if objs, err := s.List(t.Context(), ""); err != nil || len(objs) != 0 {
				t.Errorf("List after a failed Put = %v, %v; want nothing", objs, err)
			}
			if names := listNames(t, admin, "extra_segments", "failed/"+key); len(names) != 0 {
				t.Errorf("segments left after a failed Put: %q", names)
			}
		})
	}
}

// testLargeObjectSegments checks where segments go, that keys needing
// escapes work for large objects, and that overwriting and deleting a large
// object remove its segments.
func testLargeObjectSegments(t *testing.T, srv testserver.SwiftServer, admin *gophercloud.ServiceClient) {
	ctx := t.Context()
	s := newTestStore(t, srv, "extra", "large", Options{SegmentSize: testSegmentSize})
	key := "dir with space/é ?#%20+&=/obj"
	const size = 11<<20 + 17 // three segments
	if err := s.Put(ctx, key, random(3, size)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	want, _ := io.ReadAll(random(3, size))
	if got := readAll(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("Get returned %d bytes that differ from the %d written", len(got), len(want))
	}
	objs, err := s.List(ctx, "")
	if err != nil || len(objs) != 1 || objs[0].Key != key || objs[0].Size != size {
		t.Fatalf("List = %+v, %v; want only %q of %d bytes", objs, err, key, size)
	}
	segments := listNames(t, admin, "extra_segments", "large/"+key+"/")
	if len(segments) != 3 {
		t.Fatalf("segment container holds %q, want 3 segments", segments)
	}
	if names := listNames(t, admin, "extra", "large/"); !slices.Equal(names, []string{"large/" + key}) {
		t.Errorf("object container holds %q, want only the object", names)
	}

	// Overwriting with another large object replaces all segments.
	if err := s.Put(ctx, key, random(4, 6<<20)); err != nil {
		t.Fatalf("overwriting Put: %v", err)
	}
	after := listNames(t, admin, "extra_segments", "large/"+key+"/")
	if len(after) != 2 || slices.ContainsFunc(after, func(n string) bool { return slices.Contains(segments, n) }) {
		t.Errorf("after overwriting, segments are %q; want 2 new ones, none of %q", after, segments)
	}
	// Overwriting with a small object leaves no segment.
	if err := s.Put(ctx, key, strings.NewReader("small")); err != nil {
		t.Fatalf("small overwriting Put: %v", err)
	}
	if names := listNames(t, admin, "extra_segments", "large/"); len(names) != 0 {
		t.Errorf("segments left after a small overwrite: %q", names)
	}
	if got := readAll(t, s, key); string(got) != "small" {
		t.Errorf("Get after the small overwrite = %q", got)
	}

	if err := s.Put(ctx, key, random(5, 6<<20)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if names := listNames(t, admin, "extra_segments", "large/"); len(names) != 0 {
		t.Errorf("segments left after Delete: %q", names)
	}
	if names := listNames(t, admin, "extra", "large/"); len(names) != 0 {
		t.Errorf("objects left after Delete: %q", names)
	}
}

// testRemoveLeftovers leaves segments behind as a crashed Put would, and
// checks that only the old, unreferenced ones go.
func testRemoveLeftovers(t *testing.T, srv testserver.SwiftServer, admin *gophercloud.ServiceClient) {
	ctx := t.Context()
	s := newTestStore(t, srv, "extra", "leftovers", Options{SegmentSize: testSegmentSize})
	if err := s.Put(ctx, "complete", random(6, 7<<20)); err != nil {
		t.Fatal(err)
	}
	// Another store's area in the same containers must not be touched.
	other := newTestStore(t, srv, "extra", "other-area", Options{SegmentSize: testSegmentSize})
	writeOrphan(t, other, admin, "elsewhere", 2)

	orphans := append(writeOrphan(t, s, admin, "crashed", 3), writeOrphan(t, s, admin, "complete", 2)...)
	// An object name with no manifest, and one whose manifest lists other
	// segments: both kinds are orphans.
	time.Sleep(50 * time.Millisecond) // Swift's timestamps are to the microsecond
	cutoff := time.Now()
	time.Sleep(50 * time.Millisecond)
	fresh := writeOrphan(t, s, admin, "still-writing", 2)
	// A name that is not a segment of this package's scheme stays.
	if _, err := putBytes(ctx, admin, objectURL(admin, "extra_segments", "leftovers/not-a-segment"), []byte("x")); err != nil {
		t.Fatal(err)
	}

	removed, err := s.RemoveLeftovers(ctx, cutoff)
	if err != nil {
		t.Fatalf("RemoveLeftovers: %v", err)
	}
	if removed != len(orphans) {
		t.Errorf("RemoveLeftovers removed %d, want %d", removed, len(orphans))
	}
	left := listNames(t, admin, "extra_segments", "")
	for _, name := range orphans {
		if slices.Contains(left, name) {
			t.Errorf("orphan %q is still there", name)
		}
	}
	for _, name := range fresh {
		if !slices.Contains(left, name) {
			t.Errorf("segment %q, newer than the cutoff, was removed", name)
		}
	}
	for _, prefix := range []string{"leftovers/complete/", "other-area/elsewhere/", "leftovers/not-a-segment"} {
		if !slices.ContainsFunc(left, func(n string) bool { return strings.HasPrefix(n, prefix) }) {
			t.Errorf("nothing under %q is left, want it kept", prefix)
		}
	}
	// The complete object still reads in full.
	want, _ := io.ReadAll(random(6, 7<<20))
	if got := readAll(t, s, "complete"); !bytes.Equal(got, want) {
		t.Errorf("complete object damaged: %d bytes", len(got))
	}

	// Later, the fresh ones are old enough too.
	removed, err = s.RemoveLeftovers(ctx, time.Now().Add(time.Second))
	if err != nil || removed != len(fresh) {
		t.Errorf("second RemoveLeftovers = %d, %v; want %d", removed, err, len(fresh))
	}
}

// writeOrphan uploads n segments for key under a new upload ID, as a Put
// that never got to its manifest, and returns their names.
func writeOrphan(t *testing.T, s *Store, c *gophercloud.ServiceClient, key string, n int) []string {
	t.Helper()
	if _, err := s.prepareSegments(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	upload := newUploadID(time.Now())
	var names []string
	for i := range n {
		name := segmentName(s.name(key), upload, i)
		if _, err := putBytes(t.Context(), c, objectURL(c, s.segContainer, name), []byte(name)); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// cancelReader cancels when reached and ends, so that an io.MultiReader
// moves on to more data as a live source would.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}
