package ecr

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

// elsewhere is the second listener a redirect points to: it counts what reaches it.
func elsewhere(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return srv, &reached
}

// TestRedirectsAreRefused: ECR, STS (GetCallerIdentity and AssumeRole), the instance metadata service, the
// container credentials endpoint and a registry each answer 307 to a second listener (http://, where the SDK's own client would follow with the
// request's headers and body): every call fails with a *RedirectError, is not retried, and nothing reaches the
// second listener.
func TestRedirectsAreRefused(t *testing.T) {
	other, reached := elsewhere(t)
	ctx := context.Background()
	asRedirect := func(name string, err error) {
		t.Helper()
		var re *RedirectError
		if !errors.As(err, &re) || re.Status != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), "refused to follow a 307 redirect to "+other.URL) {
			t.Errorf("%s: %v, want a refused 307", name, err)
		}
	}
	// net/http does not follow a 307 of a request whose body it cannot send again, which is the case of the
	// SDK's POSTs today: they fail on the 307 itself; if the SDK ever makes its bodies replayable, on the refusal.
	failsOn307 := func(name string, err error) {
		t.Helper()
		var re *RedirectError
		if err == nil || !errors.As(err, &re) && !strings.Contains(err.Error(), "StatusCode: 307") {
			t.Errorf("%s: %v, want a failure on the 307", name, err)
		}
	}

	srv := newServer(t)
	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionGetAuthorizationToken, Redirect: other.URL + "/token", Times: 1})
	c := newClient(t, srv, func(c *Config) { c.MaxAttempts = 3 })
	_, err := c.Token(ctx, "us-east-1")
	failsOn307("GetAuthorizationToken", err)
	if srv.Calls() != 1 {
		t.Errorf("GetAuthorizationToken was tried %d times, want once: a redirect is not retried", srv.Calls())
	}

	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionGetCallerIdentity, Redirect: other.URL + "/sts", Times: 1})
	sts := newClient(t, srv, func(c *Config) { c.STSEndpoint = srv.URL })
	_, err = sts.CallerIdentity(ctx)
	failsOn307("GetCallerIdentity", err)

	srv.AddRole(roleARN)
	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionAssumeRole, Redirect: other.URL + "/assume", Times: 1})
	role := newClient(t, srv, func(c *Config) { c.RoleARN, c.STSEndpoint = roleARN, srv.URL })
	_, err = role.Token(ctx, "us-east-1")
	failsOn307("AssumeRole", err)

	// The instance metadata service: the SDK's IMDS client is a copy of the client ecr builds, with shorter
	// timeouts.
	imds := ecrtest.NewIMDS(ecrtest.IMDSOptions{AccessKeyID: testKey, SecretKey: testSecret, Redirect: other.URL + "/imds"})
	t.Cleanup(imds.Close)
	_, err = keylessClient(t, srv, map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL}, nil).Token(ctx, "us-east-1")
	asRedirect("instance role", err)

	// The container credentials endpoint (ECS task role, EKS pod identity), asked with the container's token.
	container := httptest.NewServer(http.RedirectHandler(other.URL+"/container", http.StatusTemporaryRedirect))
	t.Cleanup(container.Close)
	_, err = keylessClient(t, srv, map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": container.URL + "/creds",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token-secret"}, nil).Token(ctx, "us-east-1")
	asRedirect("container credentials", err)
	if len(imds.Requests()) == 0 {
		t.Error("the instance metadata service was not asked: the case was not exercised")
	}

	// A registry: GET /v2/ carries Basic AWS:<password>.
	reg := registryClient(t, srv)
	tok, err := reg.Token(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	srv.RedirectRegistry(testAccount, "us-east-1", other.URL+"/v2/")
	err = reg.CheckRegistry(ctx, testAccount+".dkr.ecr.us-east-1.amazonaws.com", tok)
	asRedirect("registry", err)
	var rerr *RegistryError
	if !errors.As(err, &rerr) || rerr.Status != 0 || !strings.Contains(err.Error(), "which is never followed") {
		t.Errorf("registry: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), tok.Password.Reveal()) {
		t.Error("the password is in the error")
	}

	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests reached the address a redirect pointed to, want none", n)
	}
}

// keylessClient is a client with no keys of its own: the SDK's default chain finds its credentials where env
// (the instance metadata service's or the container credentials endpoint's variables) says.
func keylessClient(t *testing.T, srv *ecrtest.Server, env map[string]string, log logrus.FieldLogger) *Client {
	t.Helper()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	for k, v := range env {
		t.Setenv(k, v)
	}
	c, err := New(context.Background(), Config{HomeRegion: "us-east-1", Endpoint: srv.URL, Timeout: 5 * time.Second, MaxAttempts: 1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSDKLogLines: the SDK's own lines go to the logger handed in, never to stderr: the IMDSv1 fallback (an
// instance metadata service that answers 403 to the IMDSv2 token request) at debug level, a real warning at
// warning level; a nil logger drops them.
func TestSDKLogLines(t *testing.T) {
	srv := newServer(t)
	imds := ecrtest.NewIMDS(ecrtest.IMDSOptions{AccessKeyID: testKey, SecretKey: testSecret, TokenStatus: http.StatusForbidden})
	t.Cleanup(imds.Close)
	var buf bytes.Buffer
	log := logrus.New()
	log.Out = &buf
	log.SetLevel(logrus.DebugLevel)
	log.SetFormatter(&logrus.JSONFormatter{})
	c := keylessClient(t, srv, map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL}, log)
	tok, err := c.Token(context.Background(), "us-east-1")
	if err != nil {
		t.Fatalf("instance role through IMDSv1: %v\nIMDS requests %q", err, imds.Requests())
	}
	if tok.Password.Empty() || c.CredentialSource() != "instance role (EC2 instance metadata)" {
		t.Errorf("token %v from %q", !tok.Password.Empty(), c.CredentialSource())
	}
	out := buf.String()
	if !strings.Contains(out, `{"level":"debug","library":"aws-sdk","msg":"falling back to IMDSv1: `) {
		t.Errorf("no debug line for the IMDSv1 fallback:\n%s", out)
	}
	if strings.Contains(out, testSecret) {
		t.Error("the instance role's secret is in the log")
	}

	buf.Reset()
	l := sdkLogger(log)
	l.Logf("WARN", "failed to parse response Date header value, got %v", "garbage")
	l.Logf("WARN", "falling back to IMDSv1: %v", "403")
	l.Logf("DEBUG", "Request\n%v", "GET / HTTP/1.1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"level":"warning"`) || !strings.Contains(lines[1], `"level":"debug"`) ||
		!strings.Contains(lines[2], `"level":"debug"`) {
		t.Errorf("levels:\n%s", buf.String())
	}
	log.SetLevel(logrus.InfoLevel)
	buf.Reset()
	l.Logf("WARN", "falling back to IMDSv1: %v", "403")
	sdkLogger(nil).Logf("WARN", "dropped")
	if buf.Len() != 0 {
		t.Errorf("at info level: %s", buf.String())
	}
}
