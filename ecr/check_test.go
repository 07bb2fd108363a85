package ecr

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

func TestCallerIdentity(t *testing.T) {
	srv := newServer(t)
	srv.AddRole(roleARN)
	c := newClient(t, srv, func(c *Config) { c.STSEndpoint = srv.URL })
	id, err := c.CallerIdentity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if id.Account != testAccount || id.ARN != "arn:aws:iam::"+testAccount+":user/ecrtest" || id.UserID == "" {
		t.Fatalf("%+v", id)
	}
	if src := c.CredentialSource(); src != "static credentials" {
		t.Errorf("source %q", src)
	}

	role := newClient(t, srv, func(c *Config) { c.STSEndpoint = srv.URL; c.RoleARN = roleARN })
	id, err = role.CallerIdentity(context.Background())
	if err != nil || id.Account != roleAccount || !strings.Contains(id.ARN, ":assumed-role/ecr-pull/ecr-updater") {
		t.Fatalf("assumed role: %+v %v", id, err)
	}
	if src := role.CredentialSource(); src != "assumed role (the AWS role ARN)" {
		t.Errorf("source %q", src)
	}

	bad := newClient(t, srv, func(c *Config) {
		c.STSEndpoint = srv.URL
		c.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", testSecret, "")
	})
	_, err = bad.CallerIdentity(context.Background())
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") || !strings.Contains(err.Error(), "AWS does not know AWS_ACCESS_KEY_ID") ||
		strings.Contains(err.Error(), secretMarker) {
		t.Errorf("unknown key: %v", err)
	}
}

// registryClient is a client whose registry requests reach the stand-in's registry hosts.
func registryClient(t *testing.T, srv *ecrtest.Server) *Client {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, srv.RegistryCAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	return newClient(t, srv, func(c *Config) { c.Proxy = srv.RegistryProxy() })
}

func TestCheckRegistry(t *testing.T) {
	srv := newServer(t)
	c := registryClient(t, srv)
	ctx := context.Background()
	east, err := c.Token(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	west, err := c.Token(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	own := testAccount + ".dkr.ecr.us-east-1.amazonaws.com"
	if err := c.CheckRegistry(ctx, own, east); err != nil {
		t.Fatalf("own registry: %v", err)
	}
	if err := c.CheckRegistry(ctx, "999999999999.dkr.ecr.eu-west-1.amazonaws.com", west); err != nil {
		t.Fatalf("another account: %v", err)
	}

	srv.DenyRegistry("999999999999", "eu-west-1")
	err = c.CheckRegistry(ctx, "999999999999.dkr.ecr.eu-west-1.amazonaws.com", west)
	var re *RegistryError
	if !errors.As(err, &re) || re.Status != 401 || !strings.Contains(err.Error(), "401 Unauthorized") ||
		!strings.Contains(err.Error(), "may not use this registry") || !strings.Contains(err.Error(), "with the eu-west-1 token") {
		t.Errorf("denied: %v", err)
	}
	if strings.Contains(err.Error(), west.Password.Reveal()) {
		t.Error("the password is in the error")
	}

	// Another region's token is not tried at all; neither is a host that is not ECR.
	if err := c.CheckRegistry(ctx, own, west); !errors.As(err, &re) || re.Status != 0 || !strings.Contains(err.Error(), "no token of region us-east-1") {
		t.Errorf("wrong region: %v", err)
	}
	if err := c.CheckRegistry(ctx, "registry.example.com", east); !errors.Is(err, ErrNotECR) {
		t.Errorf("not ECR: %v", err)
	}
	if n := len(srv.RegistryRequests()); n != 3 {
		t.Errorf("%d registry requests, want 3", n)
	}

	// A registry that cannot be reached.
	down := newClient(t, srv, func(c *Config) {
		c.Timeout = 3 * time.Second
		c.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse("http://127.0.0.1:1") }
	})
	if err := down.CheckRegistry(ctx, own, east); !errors.As(err, &re) || re.Status != 0 || !strings.Contains(err.Error(), "could not be reached") {
		t.Errorf("unreachable: %v", err)
	}
}
