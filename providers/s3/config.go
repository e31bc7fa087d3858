package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	// The SDK retries throttling, 5xx answers and broken connections with
	// full-jitter exponential backoff from retryBaseDelay up to maxBackoff:
	// at most about 28 s (half that on average) of waiting per request, so
	// a short outage passes unnoticed and a long one fails in bounded time.
	maxAttempts    = 10
	retryBaseDelay = 250 * time.Millisecond
	maxBackoff     = 5 * time.Second
	// responseHeaderTimeout ends a request whose server went silent; it must
	// cover assembling a large multipart object.
	responseHeaderTimeout = 2 * time.Minute
	// credentialRecheck is how soon a changed credential file is noticed.
	credentialRecheck = 10 * time.Second
	// defaultEndpointRegion signs requests to a custom endpoint given
	// without a region; S3-compatible servers accept it.
	defaultEndpointRegion = "us-east-1"
)

// settings are where and how to connect, from the store URL's query, then
// the credential file, then the SDK's own configuration (environment,
// profile).
type settings struct {
	region    string
	endpoint  string
	pathStyle *bool
}

var queryParams = []string{"region", "endpoint", "force-path-style"}

func settingsFromQuery(q url.Values) (settings, error) {
	var s settings
	for name, values := range q {
		if !slices.Contains(queryParams, name) {
			return settings{}, fmt.Errorf("unknown parameter %q (supported: %s)", name, strings.Join(queryParams, ", "))
		}
		if len(values) != 1 {
			return settings{}, fmt.Errorf("parameter %q given %d times", name, len(values))
		}
	}
	s.region = strings.TrimSpace(q.Get("region"))
	s.endpoint = strings.TrimSpace(q.Get("endpoint"))
	if v := q.Get("force-path-style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return settings{}, fmt.Errorf("force-path-style=%q: want true or false", v)
		}
		s.pathStyle = &b
	}
	return s, nil
}

// fillFrom takes from fc what s lacks.
func (s *settings) fillFrom(fc fileCredentials) {
	if s.region == "" {
		s.region = fc.Region
	}
	if s.endpoint == "" {
		s.endpoint = fc.Endpoint
	}
	if s.pathStyle == nil {
		s.pathStyle = fc.S3ForcePathStyle
	}
}

// checkEndpoint accepts http(s)://host[:port][/path]. Its errors never repeat
// the value, which could carry user info.
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("endpoint is not a URL")
	case u.User != nil:
		return errors.New("endpoint must not carry user info; give keys through the environment or a credential file")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("endpoint scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return errors.New("endpoint has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("endpoint must not have a query or fragment")
	}
	return nil
}

// newClient builds the S3 client: bounded retries, timeouts, and keys from
// the credential file when the environment names one, else the SDK's
// default chain (environment, shared profile, web identity, ...).
func newClient(ctx context.Context, set settings, recheck time.Duration) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(newRetryer),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.ResponseHeaderTimeout = responseHeaderTimeout
		})),
	}
	if src, ok := credentialSourceFromEnv(os.Getenv); ok {
		fc, err := src.read()
		if err != nil {
			return nil, err
		}
		set.fillFrom(fc)
		opts = append(opts, config.WithCredentialsProvider(newRotatingCredentials(src, recheck)))
	}
	if set.region == "" && set.endpoint != "" {
		set.region = defaultEndpointRegion
	}
	if set.region != "" {
		opts = append(opts, config.WithRegion(set.region))
	}
	if set.endpoint != "" {
		if err := checkEndpoint(set.endpoint); err != nil {
			return nil, err
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no region: add ?region= to the store URL, or set AWS_REGION")
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// Multipart objects carry no whole-object checksum to validate; the
		// backup format checks its own sha256.
		o.DisableLogOutputChecksumValidationSkipped = true
		o.HTTPSignerV4 = &rotationSafeSigner{}
		if set.endpoint != "" {
			o.BaseEndpoint = aws.String(set.endpoint)
		}
		if set.pathStyle != nil {
			o.UsePathStyle = *set.pathStyle
		}
	}), nil
}

func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.BaseDelay = retryBaseDelay
		// The default token bucket stops retrying after a burst of failures
		// across all requests, just when an outage ends; attempts and
		// backoff are bounded per request already.
		o.RateLimiter = ratelimit.None
	})
}
