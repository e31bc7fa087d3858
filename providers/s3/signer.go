package s3

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// rotationSafeSigner signs with SigV4 like the S3 client's own signer, but
// with a fresh signer whenever the secret key changes. The SDK's signer
// caches the derived signing key by access key ID and day only, so a secret
// rotated under the same key ID would otherwise be ignored until midnight.
type rotationSafeSigner struct {
	mu     sync.Mutex
	secret string
	signer *v4.Signer
}

func (s *rotationSafeSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request,
	payloadHash, service, region string, signingTime time.Time, optFns ...func(*v4.SignerOptions)) error {
	return s.forSecret(creds.SecretAccessKey).SignHTTP(ctx, creds, r, payloadHash, service, region, signingTime, optFns...)
}

func (s *rotationSafeSigner) forSecret(secret string) *v4.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signer == nil || secret != s.secret {
		s.signer = v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 keys are escaped once, by the client; as the default S3 signer does.
			o.DisableURIPathEscaping = true
		})
		s.secret = secret
	}
	return s.signer
}
