package gcs

import (
	"context"
	"io"
	"os"
	"testing"

	"etcdbrctl/internal/testserver"
	"etcdbrctl/providers/storetest"
)

// BenchmarkTransfer measures the store on fake-gcs-server beside the
// SDK's plain writer fed from a file and its plain reader:
//
//	go test -run '^$' -bench Transfer -benchtime 1x ./providers/gcs
func BenchmarkTransfer(b *testing.B) {
	srv := testserver.StartFakeGCS(b, "bench")
	b.Setenv("STORAGE_EMULATOR_HOST", "")
	b.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	opts := Options{}.withDefaults()
	s, err := New(b.Context(), mustParse(b, "gs://bench/transfer?endpoint="+srv.Endpoint), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	baseline := s.bucket.Object("baseline")
	storetest.BenchTransfer(b, s, storetest.SDK{
		PutFile: func(ctx context.Context, path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			w := baseline.NewWriter(ctx)
			w.ChunkSize = opts.ChunkSize
			if _, err := io.Copy(w, f); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		},
		Get: func(ctx context.Context) (io.ReadCloser, error) { return baseline.NewReader(ctx) },
	})
}
