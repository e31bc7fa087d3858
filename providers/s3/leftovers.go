package s3

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// RemoveLeftovers aborts the incomplete multipart uploads under the store's
// prefix that were started before olderThan, freeing the parts they hold,
// and reports how many it aborted. Uploads started later are left to finish.
func (s *Store) RemoveLeftovers(ctx context.Context, olderThan time.Time) (int, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket)}
	if s.root != "" {
		in.Prefix = aws.String(s.root)
	}
	removed := 0
	var errs []error
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return removed, s.opError(ctx, "list multipart uploads", s.root, err)
		}
		for _, u := range page.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(olderThan) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket:   aws.String(s.bucket),
				Key:      u.Key,
				UploadId: u.UploadId,
			})
			switch {
			case err == nil:
				removed++
			case isNoSuchUpload(err):
				// finished or aborted meanwhile
			case ctx.Err() != nil:
				return removed, s.opError(ctx, "abort upload of", aws.ToString(u.Key), err)
			default:
				errs = append(errs, s.opError(ctx, "abort upload of", aws.ToString(u.Key), err))
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		if aws.ToString(page.NextKeyMarker) == "" && aws.ToString(page.NextUploadIdMarker) == "" {
			break // a truncated page without markers would repeat forever
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	return removed, errors.Join(errs...)
}
