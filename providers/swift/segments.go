package swift

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// Segment names are "<object name>/<upload>/<index>": an upload ID for each
// Put, so that an overwrite never touches the segments the current object is
// made of, and an 8-digit index, so that a listing returns them in order.
// The object name in front lets RemoveLeftovers check the one manifest that
// could refer to a segment.

// uploadPattern is the form of an upload ID: the time it started, then
// random hex. Only names of this form are ever deleted as leftovers.
var uploadPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9a-f]{8}$`)

const indexDigits = 8

func newUploadID(now time.Time) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:])
}

func segmentName(object, upload string, index int) string {
	return fmt.Sprintf("%s/%s/%0*d", object, upload, indexDigits, index)
}

// parseSegmentName splits a segment name; ok is false for anything this
// package did not name.
func parseSegmentName(name string) (object, upload string, ok bool) {
	rest, index, found := cutLast(name, "/")
	if !found || len(index) != indexDigits {
		return "", "", false
	}
	if _, err := strconv.ParseUint(index, 10, 32); err != nil {
		return "", "", false
	}
	object, upload, found = cutLast(rest, "/")
	if !found || object == "" || !uploadPattern.MatchString(upload) {
		return "", "", false
	}
	return object, upload, true
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// prepareSegments makes sure the segment container exists, and learns the
// cluster's limit on segments per manifest; both once per Store.
func (s *Store) prepareSegments(ctx context.Context, c *gophercloud.ServiceClient) (maxSegments int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.segContainerReady {
		return s.maxSegments, nil
	}
	if s.maxSegments == 0 {
		if s.maxSegments, err = manifestLimit(ctx, c); err != nil {
			return 0, err
		}
	}
	_, err = request(ctx, c, http.MethodHead, containerURL(c, s.segContainer), &gophercloud.RequestOpts{OkCodes: []int{http.StatusNoContent, http.StatusOK}})
	if isStatus(err, http.StatusNotFound) {
		_, err = request(ctx, c, http.MethodPut, containerURL(c, s.segContainer), &gophercloud.RequestOpts{OkCodes: []int{http.StatusCreated, http.StatusAccepted}})
		if err != nil {
			return 0, fmt.Errorf("creating the segment container %q: %w", s.segContainer, err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("segment container %q: %w", s.segContainer, err)
	}
	s.segContainerReady = true
	return s.maxSegments, nil
}

// defaultManifestLimit is Swift's default max_manifest_segments, assumed
// when the cluster does not publish its settings.
const defaultManifestLimit = 1000

// manifestLimit reads the cluster's published settings (GET /info, no
// authentication). A cluster that publishes them without the slo section
// cannot store large objects, which is better said before uploading.
func manifestLimit(ctx context.Context, c *gophercloud.ServiceClient) (int, error) {
	root, _, found := strings.Cut(c.Endpoint, "/v1/")
	if !found {
		return defaultManifestLimit, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/info", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return defaultManifestLimit, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return defaultManifestLimit, nil
	}
	var info struct {
		SLO *struct {
			MaxManifestSegments int `json:"max_manifest_segments"`
		} `json:"slo"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return defaultManifestLimit, nil
	}
	if info.SLO == nil {
		return 0, errors.New("this Swift cluster has no static large object support (slo middleware), which objects larger than one segment need")
	}
	if info.SLO.MaxManifestSegments <= 0 {
		return defaultManifestLimit, nil
	}
	return info.SLO.MaxManifestSegments, nil
}

// manifestSegment is one segment as GET ?multipart-manifest=get lists it.
type manifestSegment struct {
	Name  string `json:"name"` // "/container/object"
	Bytes int64  `json:"bytes"`
}

// readManifest returns the segments the object's SLO manifest refers to,
// or ok false when the object is missing or is no SLO.
func (s *Store) readManifest(ctx context.Context, c *gophercloud.ServiceClient, name string) (segments []manifestSegment, ok bool, err error) {
	u := objectURL(c, s.container, name)
	resp, err := request(ctx, c, http.MethodHead, u, &gophercloud.RequestOpts{OkCodes: []int{http.StatusOK}})
	if isStatus(err, http.StatusNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !strings.EqualFold(resp.Header.Get("X-Static-Large-Object"), "true") {
		return nil, false, nil
	}
	_, err = request(ctx, c, http.MethodGet, u+"?multipart-manifest=get", &gophercloud.RequestOpts{
		OkCodes:      []int{http.StatusOK},
		JSONResponse: &segments,
	})
	if isStatus(err, http.StatusNotFound) {
		return nil, false, nil // deleted in between
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the manifest: %w", err)
	}
	return segments, true, nil
}

// ownSegments returns the names, in the segment container, of the segments
// of the object under key that this store wrote: those a Put or Delete of
// key may remove. Segments the manifest shares with anything else, such as
// a manifest written by another tool, are not returned.
func (s *Store) ownSegments(ctx context.Context, c *gophercloud.ServiceClient, key string) ([]string, error) {
	segments, ok, err := s.readManifest(ctx, c, s.name(key))
	if err != nil || !ok {
		return nil, err
	}
	mine := "/" + s.segContainer + "/"
	var names []string
	for _, seg := range segments {
		name, found := strings.CutPrefix(seg.Name, mine)
		if !found {
			continue
		}
		if object, _, ok := parseSegmentName(name); ok && object == s.name(key) {
			names = append(names, name)
		}
	}
	return names, nil
}

// deleteSegments deletes segments, a few at a time; a missing one is fine.
// It returns the first error and how many it deleted.
func (s *Store) deleteSegments(ctx context.Context, c *gophercloud.ServiceClient, names []string) (int, error) {
	const workers = 4
	var (
		mu       sync.Mutex
		deleted  int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range workers {
		wg.Go(func() {
			for name := range work {
				_, err := request(ctx, c, http.MethodDelete, objectURL(c, s.segContainer, name), &gophercloud.RequestOpts{OkCodes: []int{http.StatusNoContent}})
				mu.Lock()
				switch {
				case err == nil:
					deleted++
				case isStatus(err, http.StatusNotFound):
				case firstErr == nil:
					firstErr = fmt.Errorf("deleting segment %q in container %q: %w", name, s.segContainer, err)
				}
				mu.Unlock()
			}
		})
	}
	for _, name := range names {
		if ctx.Err() != nil {
			break
		}
		work <- name
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return deleted, firstErr
}
