package ecr

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// learning wraps the credentials provider the SDK resolved. Every secret it hands out (the secret key and session
// token of environment keys, profiles, assumed roles, web identity, ECS and IMDS credentials, and the web identity
// token itself) is taught to the scrubber before it is used, so that no log line, health answer or exit message
// can show it; and it remembers which source the credentials came from, so that the updater can say it once.
type learning struct {
	inner     aws.CredentialsProvider
	scrubber  *redact.Scrubber
	tokenFile string // the web identity token file, read (bounded) to learn the token it holds

	mu     sync.Mutex
	source string
}

// Keys are a static key pair, and the session token of a temporary one, that the caller read itself (Config.Keys).
type Keys struct {
	AccessKeyID     string
	SecretAccessKey redact.Secret
	SessionToken    redact.Secret
}

// keysSource is the credentials' Source of Keys, which describeSource names.
const keysSource = "ConfigKeys"

func (k *Keys) provider() aws.CredentialsProvider {
	return credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: k.AccessKeyID,
		SecretAccessKey: k.SecretAccessKey.Reveal(), SessionToken: k.SessionToken.Reveal(), Source: keysSource}}
}

// maxTokenFile bounds how much of the web identity token file is read: such tokens are a few kilobytes.
const maxTokenFile = 64 << 10

// Retrieve implements aws.CredentialsProvider.
func (l *learning) Retrieve(ctx context.Context) (aws.Credentials, error) {
	creds, err := l.inner.Retrieve(ctx)
	if l.tokenFile != "" {
		if f, ferr := os.Open(l.tokenFile); ferr == nil {
			b, _ := io.ReadAll(io.LimitReader(f, maxTokenFile))
			_ = f.Close()
			l.scrubber.AddTransient(redact.Secret(strings.TrimSpace(string(b))))
		}
	}
	if err != nil {
		return creds, err
	}
	l.scrubber.AddTransient(redact.Secret(creds.SecretAccessKey), redact.Secret(creds.SessionToken))
	l.mu.Lock()
	l.source = creds.Source
	l.mu.Unlock()
	return creds, nil
}

// CredentialSource says where the AWS credentials of the last call came from, in an operator's words: the
// environment, a shared profile, web identity, the container (ECS task role), the instance role (IMDS), an
// assumed role; "" before the first call.
func (c *Client) CredentialSource() string {
	c.creds.mu.Lock()
	defer c.creds.mu.Unlock()
	return describeSource(c.creds.source)
}

// describeSource names the SDK's variables as the SDK does, and the role ARN setting by its ID.
func describeSource(source string) string {
	for _, s := range []struct{ prefix, name string }{
		{"EnvConfigCredentials", "environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"},
		{"SharedConfigCredentials", "shared profile (" + strings.TrimSpace(strings.TrimPrefix(source, "SharedConfigCredentials:")) + ")"},
		{"WebIdentityCredentials", "web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN)"},
		{"CredentialsEndpointProvider", "container credentials (ECS task role)"},
		{"EC2RoleProvider", "instance role (EC2 instance metadata)"},
		{"AssumeRoleProvider", "assumed role (" + setting.RoleARN.String() + ")"},
		{"SSOProvider", "AWS IAM Identity Center (SSO) profile"},
		{"ProcessProvider", "credential_process of a profile"},
		{"StaticCredentials", "static credentials"},
		{keysSource, "the key pair of the configuration"},
	} {
		if strings.HasPrefix(source, s.prefix) {
			return s.name
		}
	}
	return source
}
