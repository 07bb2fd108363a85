package ecr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Observer is told about every GetAuthorizationToken call: its duration and its error (nil on success).
type Observer func(op string, d time.Duration, err error)

// Config says how to reach ECR.
type Config struct {
	// HomeRegion is AWS_REGION: the region of STS when a role is assumed, and the SDK's default region.
	HomeRegion string
	// RoleARN, when set and no web identity token file is configured, is assumed through the regional STS of
	// HomeRegion (a web identity token file makes the SDK's default chain assume it itself).
	RoleARN string
	// Endpoint, when set, replaces the ECR endpoint of every region (the stand-ins, a VPC endpoint). Empty leaves
	// the SDK to its defaults, which honour AWS_ENDPOINT_URL_ECR and AWS_ENDPOINT_URL.
	Endpoint string
	// STSEndpoint, when set, replaces the STS endpoint (AWS_ENDPOINT_URL_STS works too).
	STSEndpoint string
	// Timeout bounds one token fetch, SDK retries included; 0 means 30 s. Each HTTP attempt is bounded by a
	// third of it.
	Timeout time.Duration
	// Credentials, when set, replaces the SDK's default credential chain (tests and the demo).
	Credentials aws.CredentialsProvider
	// Keys, when set (and Credentials is not), are the static keys to use instead of the SDK's default chain: keys
	// the caller read itself (from files), which the SDK would not find in its own variables. RoleARN is assumed
	// with them, as with any other source.
	Keys *Keys
	// Observe, when set, is told about every call.
	Observe Observer
	// MaxAttempts is how many times the SDK tries a call before giving up; 0 means 3.
	MaxAttempts int
	// Now is the clock that dates token arrivals (and so token lifetimes); nil means time.Now.
	Now func() time.Time
	// Scrubber, when set, learns every AWS secret the credentials provider hands out, as it hands it out.
	Scrubber *redact.Scrubber
	// WebIdentityTokenFile is the web identity token file the SDK reads (its AWS_WEB_IDENTITY_TOKEN_FILE): with
	// it, the SDK assumes RoleARN by web identity itself, and the token it holds is a secret to scrub.
	WebIdentityTokenFile string
	// Proxy, when set, chooses the proxy of every AWS and registry request instead of HTTP_PROXY, HTTPS_PROXY
	// and NO_PROXY (tests, and the daemon when a proxy URL came from a file; nil otherwise).
	Proxy func(*http.Request) (*url.URL, error)
	// Log receives the SDK's own log lines (sdklog.go), so that they take the daemon's level, format and
	// scrubber instead of going to stderr; nil drops them.
	Log logrus.FieldLogger
}

// Client fetches authorization tokens, one region at a time.
type Client struct {
	cfg     aws.Config
	conf    Config
	creds   *learning
	mu      sync.Mutex
	regions map[string]*ecr.Client
}

// DefaultTimeout bounds one token fetch when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// New loads the AWS configuration the SDK's way: keys from the environment (or Config.Keys), AWS_PROFILE and the
// shared files, web identity, the ECS task role, the EC2 instance role through IMDSv2; AWS_CA_BUNDLE; proxies from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or Config.Proxy). It makes no network call.
func New(ctx context.Context, c Config) (*Client, error) {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	// A pass makes one call per region, hours apart: idle connections are closed soon after. Every client the SDK
	// derives from this one (the ECR and STS clients, the credential providers, IMDS with its shorter timeouts,
	// AWS_CA_BUNDLE's) copies its transport, and so refuses redirects (redirect.go).
	httpClient := awshttp.NewBuildableClient().WithTimeout(c.Timeout / 3).WithTransportOptions(func(t *http.Transport) {
		t.IdleConnTimeout = 10 * time.Second
		if c.Proxy != nil {
			t.Proxy = c.Proxy
		}
		t.Proxy = refuseRedirects(t.Proxy)
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// The container credentials provider (ECS task role, EKS pod identity) would build a client of its own,
		// which follows redirects with the container's authorization token.
		config.WithEndpointCredentialOptions(func(o *endpointcreds.Options) { o.HTTPClient = httpClient }),
		config.WithLogger(sdkLogger(c.Log)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.MaxAttempts
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}
	if c.HomeRegion != "" {
		opts = append(opts, config.WithRegion(c.HomeRegion))
	}
	switch {
	case c.Credentials != nil:
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	case c.Keys != nil:
		opts = append(opts, config.WithCredentialsProvider(c.Keys.provider()))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if c.RoleARN != "" && c.WebIdentityTokenFile == "" {
		if c.HomeRegion == "" {
			return nil, errors.New("assume role: " + setting.Region.String() + " is needed to reach the regional STS")
		}
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.Region = c.HomeRegion
			if c.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(c.STSEndpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "ecr-updater"
		}))
	}
	creds := &learning{inner: cfg.Credentials, scrubber: c.Scrubber, tokenFile: c.WebIdentityTokenFile}
	if creds.inner != nil {
		cfg.Credentials = creds
	}
	return &Client{cfg: cfg, conf: c, creds: creds, regions: map[string]*ecr.Client{}}, nil
}

func (c *Client) regionClient(region string) *ecr.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.regions[region]; ok {
		return cl
	}
	cl := ecr.NewFromConfig(c.cfg, func(o *ecr.Options) {
		o.Region = region
		if c.conf.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.conf.Endpoint)
		}
	})
	c.regions[region] = cl
	return cl
}

// Token fetches and validates the authorization token of one region. Errors say what to fix where they can
// (see Error); they never contain a token or a secret.
func (c *Client) Token(ctx context.Context, region string) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.conf.Timeout)
	defer cancel()
	start := time.Now()
	out, err := c.regionClient(region).GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err == nil && len(out.AuthorizationData) == 0 {
		err = errNoData
	}
	var tok Token
	if err == nil {
		d := out.AuthorizationData[0]
		tok, err = newToken(region, d.AuthorizationToken, d.ExpiresAt, d.ProxyEndpoint, c.conf.Now())
	}
	if c.conf.Observe != nil {
		c.conf.Observe("GetAuthorizationToken", time.Since(start), err)
	}
	if err != nil {
		return Token{}, explain(region, err)
	}
	return tok, nil
}
