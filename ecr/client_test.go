package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

const (
	testAccount         = "123456789012"
	testKey, testSecret = "AKIAECRTEST000000001", "ecr-test-secret-key-0123456789"
	roleARN             = "arn:aws:iam::210987654321:role/ecr-pull"
	roleAccount         = "210987654321"
	secretMarker        = "ecr-test-secret"
	testTimeoutAttempts = 1
)

func newServer(t *testing.T) *ecrtest.Server {
	t.Helper()
	srv := ecrtest.New(ecrtest.Options{})
	t.Cleanup(srv.Close)
	srv.AddKey(testKey, testSecret, testAccount)
	return srv
}

func newClient(t *testing.T, srv *ecrtest.Server, mod func(*Config)) *Client {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := Config{HomeRegion: "us-east-1", Endpoint: srv.URL, Timeout: 5 * time.Second, MaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, "")}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenPerRegion(t *testing.T) {
	srv := newServer(t)
	var observed []string
	c := newClient(t, srv, func(c *Config) {
		c.Observe = func(op string, d time.Duration, err error) { observed = append(observed, op) }
	})
	seen := map[string]bool{}
	for _, region := range []string{"us-east-1", "eu-west-1", "cn-north-1"} {
		tok, err := c.Token(context.Background(), region)
		if err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		if tok.Region != region || tok.Registry.Region != region || tok.Registry.Account != testAccount {
			t.Errorf("%s: token %+v", region, tok)
		}
		if got := srv.Issued()[len(srv.Issued())-1]; got.Password != tok.Password.Reveal() || !got.ExpiresAt.Equal(tok.ExpiresAt) {
			t.Errorf("%s: the password or expiry differ from what ECR issued", region)
		}
		if l := tok.Lifetime(); l < 11*time.Hour || l > 12*time.Hour+time.Minute {
			t.Errorf("%s: lifetime %s", region, l)
		}
		seen[tok.Password.Reveal()] = true
	}
	if len(seen) != 3 || srv.Calls() != 3 || len(observed) != 3 {
		t.Errorf("passwords %d, calls %d, observed %v", len(seen), srv.Calls(), observed)
	}
}

// TestAssumeRole: AWS_ROLE_ARN without a web identity file is assumed through STS; ECR then sees the role's
// account.
func TestAssumeRole(t *testing.T) {
	srv := newServer(t)
	srv.AddRole(roleARN)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
	os.Unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	c := newClient(t, srv, func(c *Config) { c.RoleARN, c.STSEndpoint = roleARN, srv.URL })
	tok, err := c.Token(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Registry.Account != roleAccount {
		t.Errorf("token of account %s, want the role's %s", tok.Registry.Account, roleAccount)
	}
	if got := srv.Assumed(); len(got) != 1 || got[0] != roleARN {
		t.Errorf("assumed %v", got)
	}
	// The assumed credentials are cached: a second region does not assume again.
	if _, err := c.Token(context.Background(), "us-west-2"); err != nil || len(srv.Assumed()) != 1 {
		t.Errorf("second token: %v, assumed %d times", err, len(srv.Assumed()))
	}
	if _, err := New(context.Background(), Config{RoleARN: roleARN}); err == nil {
		t.Error("a role without a home region was accepted")
	}
}

// TestErrorsAreExplained: every failure of a token fetch has the AWS code (if any), a hint where one is known, and
// its kind (Error.Kind), and no secret.
func TestErrorsAreExplained(t *testing.T) {
	cases := []struct {
		name  string
		fault *ecrtest.Fault
		mod   func(*Config)
		code  string
		hint  string
		kind  string
	}{
		{"access denied", &ecrtest.Fault{Code: "AccessDeniedException"}, nil, "AccessDeniedException", "ecr:GetAuthorizationToken", KindAccessDenied},
		{"unknown key", nil, func(c *Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000001", testSecret, "")
		}, "UnrecognizedClientException", "AWS_ACCESS_KEY_ID", KindInvalidClientToken},
		{"wrong secret", nil, func(c *Config) {
			c.Credentials = credentials.NewStaticCredentialsProvider(testKey, secretMarker+"-wrong", "")
		}, "InvalidSignatureException", "AWS_SECRET_ACCESS_KEY", KindInvalidSignature},
		{"expired session", &ecrtest.Fault{Code: "ExpiredTokenException"}, nil, "ExpiredTokenException", "expired", KindExpiredToken},
		{"throttled", &ecrtest.Fault{Code: "ThrottlingException"}, nil, "ThrottlingException", "throttling", KindThrottling},
		{"server error", &ecrtest.Fault{Code: "ServerException"}, nil, "ServerException", "retries", KindServerError},
		{"region disabled", &ecrtest.Fault{Code: "RegionDisabledException"}, nil, "RegionDisabledException", "not enabled", KindRequest},
		{"another code", &ecrtest.Fault{Code: "SomethingNewException"}, nil, "SomethingNewException", "", KindAWSError},
		{"garbage token", &ecrtest.Fault{Token: base64.StdEncoding.EncodeToString([]byte("AWS"))}, nil, "", "nothing was written", KindInvalidToken},
		{"no expiry", &ecrtest.Fault{OmitExpiresAt: true}, nil, "", "nothing was written", KindInvalidToken},
		{"no data", &ecrtest.Fault{Empty: true}, nil, "", "", KindInvalidToken},
		{"dropped", &ecrtest.Fault{Drop: true}, nil, "", "", KindNetwork},
		{"hung", &ecrtest.Fault{Hang: true}, func(c *Config) { c.Timeout = 300 * time.Millisecond }, "", "did not answer in time", KindTimeout},
		{"nothing listens", nil, func(c *Config) { c.Endpoint = "http://127.0.0.1:1" }, "", "", KindNetwork},
		{"no credentials", nil, func(c *Config) {
			c.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("failed to retrieve credentials: none")
			})
		}, "", "no usable AWS credentials", KindNoCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			if tc.fault != nil {
				srv.AddFault(*tc.fault)
			}
			_, err := newClient(t, srv, tc.mod).Token(context.Background(), "us-east-1")
			var e *Error
			if !errors.As(err, &e) || e.Region != "us-east-1" || e.Code != tc.code || !strings.Contains(e.Error(), tc.hint) || e.Kind != tc.kind {
				t.Fatalf("err %v (%+v), want code %q, kind %q and a hint with %q", err, e, tc.code, tc.kind, tc.hint)
			}
			if strings.Contains(err.Error(), secretMarker) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestHungECRCostsOneTimeout(t *testing.T) {
	srv := newServer(t)
	srv.AddFault(ecrtest.Fault{Hang: true})
	c := newClient(t, srv, func(c *Config) { c.Timeout = 600 * time.Millisecond; c.MaxAttempts = 3 })
	start := time.Now()
	_, err := c.Token(context.Background(), "us-east-1")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	// The caller's own deadline is honoured too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.Token(ctx, "us-east-1"); err == nil || time.Since(start) > time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
}

func TestMissingProxyEndpointIsNotAFailure(t *testing.T) {
	srv := newServer(t)
	srv.AddFault(ecrtest.Fault{OmitProxyEndpoint: true})
	tok, err := newClient(t, srv, nil).Token(context.Background(), "us-east-1")
	if err != nil || tok.ProxyEndpoint != "" || tok.Password.Empty() {
		t.Fatalf("token %+v, err %v", tok, err)
	}
}
