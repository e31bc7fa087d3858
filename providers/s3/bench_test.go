package s3

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers/storetest"
)

// BenchmarkTransfer measures the store on versitygw beside the plain SDK
// (manager.Uploader, which reads parts straight from the file, and one
// GetObject):
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/s3
func BenchmarkTransfer(b *testing.B) {
	srv := testserver.StartS3(b)
	useServerKeys(b, srv)
	bucket := srv.CreateBucket(b)
	store := newTestStore(b, srv.Endpoint, bucket, "store", Options{})
	sdk := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	uploader := manager.NewUploader(sdk, func(u *manager.Uploader) {
		u.PartSize = DefaultPartSize
		u.Concurrency = DefaultConcurrency
	})
	storetest.BenchTransfer(b, store, storetest.SDK{
		PutFile: func(ctx context.Context, path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = uploader.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/object"), Body: f})
			return err
		},
		Get: func(ctx context.Context) (io.ReadCloser, error) {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("sdk/object")})
			if err != nil {
				return nil, err
			}
			return out.Body, nil
		},
	})
}
