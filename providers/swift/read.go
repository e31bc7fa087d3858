package swift

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"etcdbrctl/providers"
)

// Get opens the object; Swift joins the segments of a large object. A read
// cut short by a broken connection resumes where it stopped (a range
// request for the same version of the object), a few times at most. The
// body reads under ctx: keep it alive until the reader is closed.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, fmt.Errorf("swift store: get %q: %w", key, err)
	}
	c, err := s.conn.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("swift store: get %q: %w", key, err)
	}
	r := &objectReader{ctx: ctx, c: c, url: objectURL(c, s.container, s.name(key))}
	if err := r.open(); err != nil {
		return nil, fmt.Errorf("swift store: get %q from container %q: %w", key, s.container, err)
	}
	return r, nil
}

// maxResumes bounds how often one Get reopens the object.
const maxResumes = 5

type objectReader struct {
	ctx     context.Context
	c       *gophercloud.ServiceClient
	url     string
	body    io.ReadCloser
	offset  int64
	version string // X-Timestamp of the object first opened
	resumes int
}

// open requests the object from r.offset on.
func (r *objectReader) open() error {
	headers := map[string]string{}
	codes := []int{http.StatusOK}
	if r.offset > 0 {
		headers["Range"] = "bytes=" + strconv.FormatInt(r.offset, 10) + "-"
		codes = []int{http.StatusPartialContent}
	}
	resp, err := request(r.ctx, r.c, http.MethodGet, r.url, &gophercloud.RequestOpts{
		MoreHeaders:      headers,
		OkCodes:          codes,
		KeepResponseBody: true,
	})
	if err != nil {
		return err
	}
	version := resp.Header.Get("X-Timestamp")
	if r.offset == 0 {
		r.version = version
	} else if version != r.version {
		resp.Body.Close()
		return errors.New("the object was replaced while being read")
	}
	r.body = resp.Body
	return nil
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.body == nil {
		return 0, errors.New("swift store: read after a failed resume")
	}
	n, err := r.body.Read(p)
	r.offset += int64(n)
	if err == nil || err == io.EOF || r.ctx.Err() != nil || r.resumes >= maxResumes {
		return n, err
	}
	// A body shorter than announced, or a reset: resume after what arrived.
	r.body.Close()
	r.body = nil
	r.resumes++
	if serr := sleepCtx(r.ctx, 200*time.Millisecond<<(r.resumes-1)); serr != nil {
		return n, serr
	}
	if oerr := r.open(); oerr != nil {
		return n, fmt.Errorf("swift store: resuming a read at byte %d after %v: %w", r.offset, err, oerr)
	}
	return n, nil
}

func (r *objectReader) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

// List returns the objects whose key starts with prefix, page by page in
// Swift's (byte-wise, so key) order. Segments live in their own container
// and never appear.
func (s *Store) List(ctx context.Context, prefix string) ([]providers.Object, error) {
	c, err := s.conn.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("swift store: list %q: %w", prefix, err)
	}
	var list []providers.Object
	pager := objects.List(c, s.container, objects.ListOpts{Prefix: s.name(prefix)})
	err = pager.EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		infos, err := objects.ExtractInfo(page)
		if err != nil {
			return false, err
		}
		for _, o := range infos {
			if o.Subdir != "" || len(o.Name) < len(s.prefix) {
				continue
			}
			list = append(list, providers.Object{Key: o.Name[len(s.prefix):], Size: o.Bytes, ModTime: o.LastModified})
		}
		return true, nil
	})
	if err = classify(err); err != nil {
		if errors.Is(err, providers.ErrNotFound) {
			return nil, fmt.Errorf("swift store: list %q: container %q does not exist: %w", prefix, s.container, err)
		}
		return nil, fmt.Errorf("swift store: list %q in container %q: %w", prefix, s.container, err)
	}
	return list, nil
}

// Delete removes the object and then the segments it was made of. The
// manifest goes first, so that no half-deleted large object is ever
// visible: a failure after it leaves only orphaned segments, which the
// error reports and RemoveLeftovers collects.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return fmt.Errorf("swift store: delete %q: %w", key, err)
	}
	c, err := s.conn.get(ctx)
	if err != nil {
		return fmt.Errorf("swift store: delete %q: %w", key, err)
	}
	segments, err := s.ownSegments(ctx, c, key)
	if err != nil {
		return fmt.Errorf("swift store: delete %q from container %q: %w", key, s.container, err)
	}
	_, err = request(ctx, c, http.MethodDelete, objectURL(c, s.container, s.name(key)), &gophercloud.RequestOpts{OkCodes: []int{http.StatusNoContent}})
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("swift store: delete %q from container %q: %w", key, s.container, err)
	}
	if _, err := s.deleteSegments(ctx, c, segments); err != nil {
		return fmt.Errorf("swift store: deleted %q from container %q, but not all of its segments (RemoveLeftovers collects them): %w", key, s.container, err)
	}
	return nil
}
