// Package storetest is the conformance suite that every providers.Store
// implementation must pass, run against a real store.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"etcdbrctl/providers"
)

// Run runs the suite as subtests. Each subtest gets its own store from
// newStore and writes only under a key prefix of its own, so newStore may
// return stores that share one bucket. Objects a subtest leaves are deleted
// when it ends.
//
// Besides the Store contract, the suite expects that a Put cut short by a
// cancelled context returns an error matching context.Canceled.
func Run(t *testing.T, newStore func(t *testing.T) providers.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s providers.Store, prefix string)
	}{
		{"RoundTrip", testRoundTrip},
		{"UnknownLength", testUnknownLength},
		{"KeyCharacters", testKeyCharacters},
		{"Overwrite", testOverwrite},
		{"GetMissing", testGetMissing},
		{"DeleteThenGet", testDeleteThenGet},
		{"DeleteMissing", testDeleteMissing},
		{"ListManyObjects", testListManyObjects},
		{"FailingReader", testFailingReader},
		{"CancelDuringPut", testCancelDuringPut},
		{"NotListedWhileWriting", testNotListedWhileWriting},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			prefix := uniquePrefix(t)
			t.Cleanup(func() { deleteAll(t, s, prefix) })
			tt.run(t, s, prefix)
		})
	}
}

const mib = 1 << 20

func testRoundTrip(t *testing.T, s providers.Store, prefix string) {
	tests := []struct {
		name string
		size int64
		// reader gives the content; a bytes.Reader lets a provider take a
		// known-length path, a generator does not.
		reader func() io.Reader
	}{
		{"0B", 0, func() io.Reader { return bytes.NewReader(nil) }},
		{"1B", 1, func() io.Reader { return strings.NewReader("x") }},
		{"33MiB", 33 * mib, func() io.Reader { return content(1, 33*mib) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			area := prefix + tt.name + "/"
			key := area + "obj"
			if err := s.Put(ctx, key, tt.reader()); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			wantSum, wantSize := digest(t, tt.reader())
			if wantSize != tt.size {
				t.Fatalf("test content has %d bytes, want %d", wantSize, tt.size)
			}
			checkContent(t, s, key, wantSum, wantSize)
			checkListing(t, s, area, map[string]int64{key: tt.size})
		})
	}
}

// testUnknownLength feeds Put from a pipe in uneven writes, so the provider
// can learn neither the length nor anything from the reader's type.
func testUnknownLength(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	key := prefix + "piped"
	const size = 6*mib + 12345
	pr, pw := io.Pipe()
	go func() {
		src := content(2, size)
		buf := make([]byte, 100_000)
		for i := 0; ; i++ {
			n, err := src.Read(buf[:1+(i*7919)%len(buf)])
			if _, werr := pw.Write(buf[:n]); werr != nil {
				return
			}
			if err != nil {
				pw.Close()
				return
			}
		}
	}()
	err := s.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("Put returned")) // ends the writer if Put stopped early
	if err != nil {
		t.Fatalf("Put(%q) from a pipe: %v", key, err)
	}
	sum, n := digest(t, content(2, size))
	checkContent(t, s, key, sum, n)
	checkListing(t, s, prefix, map[string]int64{key: size})
}

// testKeyCharacters uses characters that need escaping in URLs and query
// strings, a frequent source of provider bugs.
func testKeyCharacters(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	names := []string{"with space", "plus+sign", "percent%20x", "equals=&amp", "question?mark", "hash#x", "tilde~", "unicode-é-日本", "semi;colon", ".leading-dot", "dir/with space/obj"}
	want := make(map[string]int64)
	for i, name := range names {
		key := prefix + name
		body := strings.Repeat(name, i+1)
		if err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		want[key] = int64(len(body))
		if got := getString(t, s, key); got != body {
			t.Errorf("Get(%q) = %q, want %q", key, got, body)
		}
	}
	checkListing(t, s, prefix, want)
}

func testOverwrite(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	key := prefix + "obj"
	for _, body := range []string{"first version, the longer one", "second", ""} {
		if err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		if got := getString(t, s, key); got != body {
			t.Errorf("after overwrite, Get(%q) = %q, want %q", key, got, body)
		}
		checkListing(t, s, prefix, map[string]int64{key: int64(len(body))})
	}
}

func testGetMissing(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	if err := s.Put(ctx, prefix+"dir/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		prefix + "never-written",
		prefix + "dir",          // only a prefix of another key
		prefix + "dir/obj/more", // runs through an object as if it were a directory
		prefix + "dir/ob",       // a string prefix of an object
	} {
		checkNotFound(t, s, key)
	}
}

func testDeleteThenGet(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	key := prefix + "a/b/obj"
	sibling := prefix + "a/sibling"
	for _, k := range []string{key, sibling} {
		if err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	checkNotFound(t, s, key)
	checkListing(t, s, prefix, map[string]int64{sibling: int64(len(sibling))})
	if got := getString(t, s, sibling); got != sibling {
		t.Errorf("Get(%q) after deleting a neighbour = %q, want %q", sibling, got, sibling)
	}
	// A deleted key can be written again.
	if err := s.Put(ctx, key, strings.NewReader("again")); err != nil {
		t.Fatalf("Put(%q) after Delete: %v", key, err)
	}
	if got := getString(t, s, key); got != "again" {
		t.Errorf("Get(%q) = %q, want %q", key, got, "again")
	}
}

func testDeleteMissing(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	if err := s.Put(ctx, prefix+"dir/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{prefix + "never-written", prefix + "dir/other", prefix + "dir"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v, want nil", key, err)
		}
	}
	if err := s.Delete(ctx, prefix+"dir/obj"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, prefix+"dir/obj"); err != nil {
		t.Errorf("second Delete(%q): %v, want nil", prefix+"dir/obj", err)
	}
	checkListing(t, s, prefix, map[string]int64{})
}

// testListManyObjects goes past 1,000 objects, a common page size, and checks
// that List is a string prefix match in key order.
func testListManyObjects(t *testing.T, s providers.Store, prefix string) {
	const many = 1100
	size := func(i int) int64 { return int64(i % 7) }
	all := make(map[string]int64)
	for i := range many {
		all[fmt.Sprintf("%smany/obj-%04d", prefix, i)] = size(i)
	}
	// Keys that sort around the '/' of nested keys, and siblings that share a
	// string prefix with "many" but not "many/".
	for _, k := range []string{"many/sub/obj", "many/sub.x", "many/sub-x", "many-sibling/obj", "manyx", "man"} {
		all[prefix+k] = 3
	}
	putAll(t, s, all)

	cases := []struct {
		name   string
		prefix string
	}{
		{"directory prefix", prefix + "many/"},
		{"string prefix", prefix + "many/obj-00"},
		{"partial segment", prefix + "many"},
		{"whole area", prefix},
		{"no match", prefix + "many/zzz"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := make(map[string]int64)
			for k, n := range all {
				if strings.HasPrefix(k, c.prefix) {
					want[k] = n
				}
			}
			checkListing(t, s, c.prefix, want)
		})
	}
}

func testFailingReader(t *testing.T, s providers.Store, prefix string) {
	tests := []struct {
		name      string
		failAfter int64
		existing  string // content already stored under the key, if any
	}{
		{"new key, at once", 0, ""},
		{"new key, after 1KiB", 1024, ""},
		{"new key, after 9MiB", 9 * mib, ""},
		{"existing key, after 1KiB", 1024, "older object"},
		{"existing key, after 9MiB", 9 * mib, "older object"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			area := fmt.Sprintf("%s%d/", prefix, i)
			key := area + "obj"
			want := map[string]int64{}
			if tt.existing != "" {
				if err := s.Put(ctx, key, strings.NewReader(tt.existing)); err != nil {
					t.Fatal(err)
				}
				want[key] = int64(len(tt.existing))
			}
			errBroken := errors.New("source broke")
			r := io.MultiReader(content(3, tt.failAfter), failingReader{errBroken})
			err := s.Put(ctx, key, r)
			if !errors.Is(err, errBroken) {
				t.Fatalf("Put(%q) from a failing reader = %v, want an error matching %v", key, err, errBroken)
			}
			checkListing(t, s, area, want)
			if tt.existing == "" {
				checkNotFound(t, s, key)
			} else if got := getString(t, s, key); got != tt.existing {
				t.Errorf("after a failed Put, Get(%q) = %q, want the older %q", key, got, tt.existing)
			}
		})
	}
}

func testCancelDuringPut(t *testing.T, s providers.Store, prefix string) {
	tests := []struct {
		name     string
		existing string
		// before cancels ahead of Put instead of while it reads.
		before bool
	}{
		{"new key", "", false},
		{"existing key", "older object", false},
		{"cancelled before Put", "", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			area := fmt.Sprintf("%s%d/", prefix, i)
			key := area + "obj"
			want := map[string]int64{}
			if tt.existing != "" {
				if err := s.Put(t.Context(), key, strings.NewReader(tt.existing)); err != nil {
					t.Fatal(err)
				}
				want[key] = int64(len(tt.existing))
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := &stallingReader{data: content(4, 2*mib), ctx: ctx, stalled: make(chan struct{})}
			done := make(chan error, 1)
			if tt.before {
				cancel()
			}
			go func() { done <- s.Put(ctx, key, r) }()
			if !tt.before {
				select {
				case <-r.stalled:
				case err := <-done:
					t.Fatalf("Put(%q) returned %v before reading all it was given", key, err)
				}
				cancel()
			}
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put(%q) with a cancelled context = %v, want an error matching context.Canceled", key, err)
			}
			checkListing(t, s, area, want)
			if tt.existing == "" {
				checkNotFound(t, s, key)
			} else if got := getString(t, s, key); got != tt.existing {
				t.Errorf("after a cancelled Put, Get(%q) = %q, want the older %q", key, got, tt.existing)
			}
		})
	}
}

func testNotListedWhileWriting(t *testing.T, s providers.Store, prefix string) {
	key := prefix + "growing"
	put := putFromPipe(t, s, key)
	src := content(5, 3*mib)
	half := make([]byte, 1536*1024)
	if _, err := io.ReadFull(src, half); err != nil {
		t.Fatal(err)
	}
	// A pipe write returns only once Put has read the bytes.
	if _, err := put.pw.Write(half); err != nil {
		t.Fatalf("feeding Put: %v", err)
	}
	checkListing(t, s, prefix, map[string]int64{})
	checkNotFound(t, s, key)
	if _, err := io.Copy(put.pw, src); err != nil {
		t.Fatalf("feeding Put: %v", err)
	}
	put.pw.Close()
	if err := <-put.err; err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	sum, n := digest(t, content(5, 3*mib))
	checkContent(t, s, key, sum, n)
	checkListing(t, s, prefix, map[string]int64{key: n})
}

func testConcurrentPuts(t *testing.T, s providers.Store, prefix string) {
	ctx := t.Context()
	const workers = 8
	size := func(i int) int64 { return 256*1024 + int64(i)*1001 }
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			key := fmt.Sprintf("%sobj-%d", prefix, i)
			if err := s.Put(ctx, key, content(uint64(100+i), size(i))); err != nil {
				t.Errorf("Put(%q): %v", key, err)
			}
		})
	}
	wg.Wait()
	want := make(map[string]int64)
	for i := range workers {
		key := fmt.Sprintf("%sobj-%d", prefix, i)
		sum, n := digest(t, content(uint64(100+i), size(i)))
		checkContent(t, s, key, sum, n)
		want[key] = n
	}
	checkListing(t, s, prefix, want)
}

// pipePut is a Put running in the background, fed through pw.
type pipePut struct {
	pw  *io.PipeWriter
	err <-chan error
}

func putFromPipe(t *testing.T, s providers.Store, key string) pipePut {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := s.Put(t.Context(), key, pr)
		// Unblocks the test's writes if Put stopped reading early.
		pr.CloseWithError(fmt.Errorf("Put returned: %v", err))
		errc <- err
	}()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) })
	return pipePut{pw: pw, err: errc}
}

// stallingReader hands out data, then blocks until ctx is done and goes on
// handing out a little more, as a live source would: only Put can stop the
// copy. The extra data is bounded so that a Put which ignores ctx completes
// and fails the test instead of hanging it.
type stallingReader struct {
	data    io.Reader
	ctx     context.Context
	stalled chan struct{}
	once    sync.Once
	more    int
}

func (r *stallingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if n > 0 || err != io.EOF {
		return n, err
	}
	r.once.Do(func() { close(r.stalled) })
	<-r.ctx.Done()
	if r.more >= mib {
		return 0, io.EOF
	}
	n = copy(p, bytes.Repeat([]byte{'x'}, min(len(p), mib-r.more)))
	r.more += n
	return n, nil
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

// content returns size deterministic pseudo-random bytes for seed, so that
// large objects can be written and checked without holding them in memory.
func content(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return io.LimitReader(mathrand.NewChaCha8(key), size)
}

func digest(t *testing.T, r io.Reader) (sum string, size int64) {
	t.Helper()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("hashing: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func checkContent(t *testing.T, s providers.Store, key, wantSum string, wantSize int64) {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	sum, n := digest(t, rc)
	if n != wantSize || sum != wantSum {
		t.Errorf("Get(%q) = %d bytes with sha256 %s, want %d bytes with sha256 %s", key, n, sum, wantSize, wantSum)
	}
}

func getString(t *testing.T, s providers.Store, key string) string {
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
	return string(b)
}

func checkNotFound(t *testing.T, s providers.Store, key string) {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err == nil {
		rc.Close()
		t.Errorf("Get(%q) succeeded, want an error matching providers.ErrNotFound", key)
		return
	}
	if !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("Get(%q) = %v, want an error matching providers.ErrNotFound", key, err)
	}
}

// checkListing checks that List(prefix) returns exactly the keys of want, with
// their sizes, in strictly increasing key order.
func checkListing(t *testing.T, s providers.Store, prefix string, want map[string]int64) {
	t.Helper()
	objects, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	keys := make([]string, len(objects))
	for i, o := range objects {
		keys[i] = o.Key
	}
	if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("List(%q) keys are not in strictly increasing order: %s", prefix, abbreviate(keys))
	}
	got := make(map[string]int64, len(objects))
	for _, o := range objects {
		got[o.Key] = o.Size
		if o.ModTime.IsZero() {
			t.Errorf("List(%q): %q has no ModTime", prefix, o.Key)
		}
	}
	for k, n := range want {
		gotSize, ok := got[k]
		switch {
		case !ok:
			t.Errorf("List(%q) lacks %q", prefix, k)
		case gotSize != n:
			t.Errorf("List(%q): %q has size %d, want %d", prefix, k, gotSize, n)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("List(%q) has unexpected %q", prefix, k)
		}
	}
	if len(objects) != len(want) {
		t.Errorf("List(%q) returned %d objects, want %d", prefix, len(objects), len(want))
	}
}

// putAll writes small objects of the given sizes, a few at a time.
func putAll(t *testing.T, s providers.Store, sizes map[string]int64) {
	t.Helper()
	keys := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for key := range keys {
				body := strings.Repeat("o", int(sizes[key]))
				if err := s.Put(t.Context(), key, strings.NewReader(body)); err != nil {
					t.Errorf("Put(%q): %v", key, err)
				}
			}
		})
	}
	for key := range sizes {
		keys <- key
	}
	close(keys)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func abbreviate(keys []string) string {
	if len(keys) > 20 {
		return fmt.Sprintf("%q ... (%d keys)", keys[:20], len(keys))
	}
	return fmt.Sprintf("%q", keys)
}

// uniquePrefix gives each subtest its own key area, so that stores sharing a
// bucket do not see each other's objects.
func uniquePrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")
	return fmt.Sprintf("storetest/%s-%s/", strings.Trim(name, "-"), hex.EncodeToString(b[:]))
}

// deleteAll removes what a subtest left, so that a shared bucket stays clean.
// Its errors are only logged: the subtests check List and Delete themselves.
func deleteAll(t *testing.T, s providers.Store, prefix string) {
	ctx := context.Background()
	objects, err := s.List(ctx, prefix)
	if err != nil {
		t.Logf("cleanup: List(%q): %v", prefix, err)
		return
	}
	for _, o := range objects {
		if err := s.Delete(ctx, o.Key); err != nil {
			t.Logf("cleanup: Delete(%q): %v", o.Key, err)
		}
	}
}
