package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// abortTimeout bounds the abort of a failed upload, which runs even when the
// caller's context is done: a cancelled Put returns within it even when the
// server is unreachable, and RemoveLeftovers removes what the abort could not.
const abortTimeout = 5 * time.Second

// Put uploads r under key. Up to PartSize bytes go in one PutObject; more
// become a multipart upload of PartSize parts, Concurrency at a time, that is
// aborted when reading r, a part or the completion fails or ctx ends. An
// upload whose abort also fails stays invisible and is removed by
// RemoveLeftovers.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	full := s.objectKey(key)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3 put %q in bucket %q: %w", full, s.bucket, err)
	}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(full),
		Body:   r,
	})
	if err == nil {
		return nil
	}
	var failed manager.MultiUploadFailure
	if errors.As(err, &failed) && failed.UploadID() != "" {
		if abortErr := s.abort(ctx, full, failed.UploadID()); abortErr != nil {
			err = errors.Join(err, abortErr)
		}
	}
	return s.opError(ctx, "put", full, err)
}

// abort ends a multipart upload and frees its parts.
func (s *Store) abort(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		UploadId: aws.String(uploadID),
	})
	if err != nil && !isNoSuchUpload(err) {
		return fmt.Errorf("aborting the incomplete upload (RemoveLeftovers removes it later): %w", err)
	}
	return nil
}
