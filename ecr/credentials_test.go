package ecr

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// TestSecretsTheSDKFindsAreLearned: credentials the SDK resolves itself (here: web identity, from a token file
// and AWS_ROLE_ARN through the STS stand-in) are taught to the scrubber as they are handed out: the web identity
// token, and the temporary secret key and session token. The source is reported in an operator's words.
func TestSecretsTheSDKFindsAreLearned(t *testing.T) {
	srv := newServer(t)
	srv.AddRole(roleARN)
	enc := base64.RawURLEncoding.EncodeToString
	jwt := enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"sub":"system:serviceaccount:infra:ecr-updater","aud":["sts.amazonaws.com"],"iss":"https://oidc.example.com/id/ABC"}`)) + ".c2ln"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(jwt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file)
	t.Setenv("AWS_ROLE_ARN", roleARN)
	t.Setenv("AWS_ROLE_SESSION_NAME", "ecr-updater")
	t.Setenv("AWS_ENDPOINT_URL_STS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	scrubber := redact.NewScrubber()
	c := newClient(t, srv, func(c *Config) { c.Credentials, c.Scrubber, c.WebIdentityTokenFile = nil, scrubber, file })
	if got := c.CredentialSource(); got != "" {
		t.Errorf("source before any call: %q", got)
	}
	if _, err := c.Token(context.Background(), "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	if got := c.CredentialSource(); !strings.HasPrefix(got, "web identity") {
		t.Errorf("source %q, want web identity", got)
	}
	creds, err := c.creds.inner.Retrieve(context.Background()) // the cached credentials, past the learning wrapper
	if err != nil || creds.SecretAccessKey == "" || creds.SessionToken == "" {
		t.Fatalf("credentials: %v", err)
	}
	for name, secret := range map[string]string{"web identity token": jwt, "secret key": creds.SecretAccessKey, "session token": creds.SessionToken} {
		if got := scrubber.Scrub("x " + secret + " y"); got != "x "+redact.Marker+" y" {
			t.Errorf("the %s was not learned: %q", name, got)
		}
	}
}

func TestDescribeSource(t *testing.T) {
	for source, want := range map[string]string{
		"EnvConfigCredentials":                       "environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
		"SharedConfigCredentials: /root/.aws/config": "shared profile (/root/.aws/config)",
		"EC2RoleProvider":                            "instance role (EC2 instance metadata)",
		"CredentialsEndpointProvider":                "container credentials (ECS task role)",
		"AssumeRoleProvider":                         "assumed role (" + setting.RoleARN.String() + ")",
		"SomethingNew":                               "SomethingNew",
	} {
		if got := describeSource(source); got != want {
			t.Errorf("%s: %q, want %q", source, got, want)
		}
	}
}

// TestKeys: keys the caller read itself (Config.Keys) are used instead of the SDK's chain, even with other keys in
// the SDK's own variables; a role is assumed with them; the source is named; the secret key is learned.
func TestKeys(t *testing.T) {
	srv := newServer(t)
	srv.AddRole(roleARN)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIANOTTHISONE000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-this-secret-either")
	keys := &Keys{AccessKeyID: testKey, SecretAccessKey: testSecret}
	scrubber := redact.NewScrubber()
	c := newClient(t, srv, func(c *Config) { c.Credentials, c.Keys, c.Scrubber = nil, keys, scrubber })
	tok, err := c.Token(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Registry.Account != testAccount || c.CredentialSource() != "the key pair of the configuration" {
		t.Errorf("account %s, source %q", tok.Registry.Account, c.CredentialSource())
	}
	if got := scrubber.Scrub("x " + testSecret); got != "x "+redact.Marker {
		t.Errorf("the secret key was not learned: %q", got)
	}

	role := newClient(t, srv, func(c *Config) { c.Credentials, c.Keys, c.RoleARN, c.STSEndpoint = nil, keys, roleARN, srv.URL })
	tok, err = role.Token(context.Background(), "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Registry.Account != roleAccount || len(srv.Assumed()) != 1 || !strings.HasPrefix(role.CredentialSource(), "assumed role") {
		t.Errorf("with a role: account %s, assumed %v, source %q", tok.Registry.Account, srv.Assumed(), role.CredentialSource())
	}
}
