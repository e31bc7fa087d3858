package s3

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/providers"
)

// List returns the objects whose key starts with prefix, in key order, page
// by page. Incomplete multipart uploads are never listed.
func (s *Store) List(ctx context.Context, prefix string) ([]providers.Object, error) {
	full := s.objectKey(prefix)
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(full),
	})
	var objects []providers.Object
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.opError(ctx, "list", full, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.root)
			if !ok || !strings.HasPrefix(key, prefix) {
				continue // a server that ignores Prefix must not leak other keys
			}
			objects = append(objects, providers.Object{
				Key:     key,
				Size:    aws.ToInt64(o.Size),
				ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	// S3 lists in UTF-8 byte order, as Go compares strings; sorting guards
	// against servers that do not.
	slices.SortFunc(objects, func(a, b providers.Object) int { return cmp.Compare(a.Key, b.Key) })
	return objects, nil
}
