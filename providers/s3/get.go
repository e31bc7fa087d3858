package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// A download is resumed after its connection broke as long as it makes
// progress: after maxResumes resumes in a row, each bringing less than
// resumeProgress bytes, it fails. The wait before a resume grows with the
// count, from resumeBaseDelay.
const (
	maxResumes      = 5
	resumeProgress  = 64 << 10
	resumeBaseDelay = 100 * time.Millisecond
)

// Get opens an object for reading. When the connection breaks during the
// read, the rest is requested again from where it stopped, on the condition
// that the object is still the same one (its ETag).
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("s3 get: %w", err)
	}
	full := s.objectKey(key)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(full)})
	if err != nil {
		return nil, s.opError(ctx, "get", full, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return &objectReader{ctx: ctx, store: s, key: full, body: out.Body, etag: aws.ToString(out.ETag), size: size}, nil
}

// objectReader reads an object's body and resumes it after a broken
// connection.
type objectReader struct {
	ctx     context.Context
	store   *Store
	key     string
	etag    string
	size    int64 // -1 when the server did not say
	body    io.ReadCloser
	offset  int64
	resumes int // in all, for tests
	// stalls counts the resumes in a row that brought less than
	// resumeProgress bytes; resumedAt is the offset of the last resume.
	stalls    int
	resumedAt int64
	err       error // sticky, once resuming failed
}

func (r *objectReader) Read(p []byte) (int, error) {
	for r.err == nil {
		n, err := r.body.Read(p)
		r.offset += int64(n)
		if err == io.EOF && r.size >= 0 && r.offset < r.size {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		if r.size >= 0 && r.offset >= r.size && isBrokenConnection(err) {
			// Everything arrived; only the connection's end failed.
			return n, io.EOF
		}
		if rerr := r.resume(err); rerr != nil {
			r.err = rerr
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, r.err
}

// resume replaces a broken body by a ranged request for the rest.
func (r *objectReader) resume(cause error) error {
	readErr := func(err error) error {
		return r.store.opError(r.ctx, "get", r.key, fmt.Errorf("reading at byte %d: %w", r.offset, err))
	}
	switch {
	case r.ctx.Err() != nil:
		return readErr(cause)
	case !isBrokenConnection(cause):
		return readErr(cause)
	case r.etag == "":
		return readErr(fmt.Errorf("%w (cannot resume: the server gave no ETag)", cause))
	}
	if r.resumes > 0 && r.offset-r.resumedAt >= resumeProgress {
		r.stalls = 0
	}
	if r.stalls >= maxResumes {
		return readErr(fmt.Errorf("%w (resumed %d times in a row with little progress)", cause, r.stalls))
	}
	r.resumes++
	r.stalls++
	r.resumedAt = r.offset
	r.body.Close()
	r.body = io.NopCloser(eofReader{})
	select {
	case <-time.After(resumeBaseDelay * time.Duration(r.stalls)):
	case <-r.ctx.Done():
		return readErr(cause)
	}
	out, err := r.store.client.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket:  aws.String(r.store.bucket),
		Key:     aws.String(r.key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-", r.offset)),
		IfMatch: aws.String(r.etag),
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" {
			err = fmt.Errorf("the object was replaced while being read: %w", err)
		}
		return readErr(fmt.Errorf("resuming after %v: %w", cause, err))
	}
	r.body = out.Body
	return nil
}

func (r *objectReader) Close() error { return r.body.Close() }

// isBrokenConnection reports whether a body read failed because the
// connection did (reset, closed early, timed out), not because the data was
// wrong: a checksum mismatch must not be read around.
func isBrokenConnection(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) ||
		retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
