package ecrtest_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

const (
	keyID   = "AKIAECRTESTKEY000001"
	secret  = "ecrtest+secret/0000000000000000000000001"
	account = "111122223333"
	roleARN = "arn:aws:iam::444455556666:role/ecr-reader"
)

var base64Re = regexp.MustCompile(`^[A-Za-z0-9+/]+=*$`)

func newServer(t *testing.T, opts ecrtest.Options) *ecrtest.Server {
	t.Helper()
	srv := ecrtest.New(opts)
	t.Cleanup(srv.Close)
	srv.AddKey(keyID, secret, account)
	return srv
}

func static(id, sec, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(id, sec, token)
}

// ecrClient is the real ECR client pointed at srv, one attempt per call.
func ecrClient(srv *ecrtest.Server, region string, creds aws.CredentialsProvider, optFns ...func(*ecr.Options)) *ecr.Client {
	fns := append([]func(*ecr.Options){func(o *ecr.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	}}, optFns...)
	return ecr.NewFromConfig(aws.Config{Region: region, Credentials: creds}, fns...)
}

func stsClient(srv *ecrtest.Server, region string, creds aws.CredentialsProvider) *sts.Client {
	return sts.NewFromConfig(aws.Config{Region: region, Credentials: creds}, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
}

func getToken(t *testing.T, c *ecr.Client, ids ...string) (*ecr.GetAuthorizationTokenOutput, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := &ecr.GetAuthorizationTokenInput{}
	if ids != nil {
		//lint:ignore SA1019 the stand-in answers the deprecated registryIds as ECR still does.
		in.RegistryIds = ids
	}
	return c.GetAuthorizationToken(ctx, in)
}

func mustToken(t *testing.T, c *ecr.Client, ids ...string) *ecr.GetAuthorizationTokenOutput {
	t.Helper()
	out, err := getToken(t, c, ids...)
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	return out
}

// password decodes an authorizationToken into the password of "AWS:<password>".
func password(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token is not base64: %v", err)
	}
	user, pw, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || pw == "" {
		t.Fatalf("token decodes to %.20q..., want AWS:<password>", raw)
	}
	return pw
}

// apiError returns the AWS error code and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an AWS error")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not a smithy.APIError", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func TestTokensForThreeRegions(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	cases := []struct{ key, account, region, endpoint string }{
		{"AKIAECRTESTKEYUSEAST", "210987654321", "us-east-1", "https://210987654321.dkr.ecr.us-east-1.amazonaws.com"},
		{"AKIAECRTESTKEYEUWEST", "123456789012", "eu-west-1", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		{"AKIAECRTESTKEYCNNORT", "999988887777", "cn-north-1", "https://999988887777.dkr.ecr.cn-north-1.amazonaws.com.cn"},
	}
	before := time.Now()
	seen := map[string]bool{}
	for _, c := range cases {
		srv.AddKey(c.key, "secret-of-"+c.key, c.account)
		out := mustToken(t, ecrClient(srv, c.region, static(c.key, "secret-of-"+c.key, "")))
		if len(out.AuthorizationData) != 1 {
			t.Fatalf("%s: %d authorizationData, want 1", c.region, len(out.AuthorizationData))
		}
		d := out.AuthorizationData[0]
		if got := aws.ToString(d.ProxyEndpoint); got != c.endpoint {
			t.Errorf("%s: proxyEndpoint %q, want %q", c.region, got, c.endpoint)
		}
		exp := aws.ToTime(d.ExpiresAt)
		if exp.Before(before.Add(12*time.Hour-time.Second)) || exp.After(time.Now().Add(12*time.Hour)) {
			t.Errorf("%s: expiresAt %v, want about 12h from now", c.region, exp)
		}
		pw := password(t, aws.ToString(d.AuthorizationToken))
		if len(pw) < 1000 || !base64Re.MatchString(pw) {
			t.Errorf("%s: password of %d chars, want a long base64 string", c.region, len(pw))
		}
		if seen[pw] {
			t.Errorf("%s: password issued twice", c.region)
		}
		seen[pw] = true
	}
	issued := srv.Issued()
	if len(issued) != 3 {
		t.Fatalf("Issued() has %d entries, want 3", len(issued))
	}
	pws := srv.Passwords()
	for i, c := range cases {
		is := issued[i]
		if is.Region != c.region || is.Account != c.account || is.AccessKeyID != c.key {
			t.Errorf("Issued()[%d] = %s/%s/%s, want %s/%s/%s", i, is.Region, is.Account, is.AccessKeyID, c.region, c.account, c.key)
		}
		if password(t, is.Token) != is.Password || pws[i] != is.Password || !seen[is.Password] {
			t.Errorf("Issued()[%d]: token, password and Passwords() disagree", i)
		}
		if got := srv.CallsIn(c.region); got != 1 {
			t.Errorf("CallsIn(%s) = %d, want 1", c.region, got)
		}
	}
	if srv.Calls() != 3 {
		t.Errorf("Calls() = %d, want 3", srv.Calls())
	}

	// A second call in a region gets a fresh password.
	out := mustToken(t, ecrClient(srv, "us-east-1", static(cases[0].key, "secret-of-"+cases[0].key, "")))
	if seen[password(t, aws.ToString(out.AuthorizationData[0].AuthorizationToken))] {
		t.Error("second call got an old password")
	}
	srv.ResetCalls()
	if srv.Calls() != 0 || srv.CallsIn("us-east-1") != 0 || len(srv.Issued()) != 4 {
		t.Errorf("after ResetCalls: Calls %d, CallsIn %d, Issued %d; want 0, 0, 4", srv.Calls(), srv.CallsIn("us-east-1"), len(srv.Issued()))
	}
	srv.ResetIssued()
	if len(srv.Issued()) != 0 || len(srv.Passwords()) != 0 {
		t.Error("ResetIssued kept records")
	}
}

func TestRegistryIDs(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	c := ecrClient(srv, "eu-central-1", static(keyID, secret, ""))
	out := mustToken(t, c, "210987654321", "123456789012")
	if len(out.AuthorizationData) != 2 {
		t.Fatalf("%d authorizationData, want 2", len(out.AuthorizationData))
	}
	for i, id := range []string{"210987654321", "123456789012"} {
		want := "https://" + id + ".dkr.ecr.eu-central-1.amazonaws.com"
		if got := aws.ToString(out.AuthorizationData[i].ProxyEndpoint); got != want {
			t.Errorf("entry %d: proxyEndpoint %q, want %q", i, got, want)
		}
		if is := srv.Issued()[i]; is.Account != id || is.Password != password(t, aws.ToString(out.AuthorizationData[i].AuthorizationToken)) {
			t.Errorf("Issued()[%d] = account %s, want %s with the token's password", i, is.Account, id)
		}
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("%012d", i)
	}
	for name, ids := range map[string][]string{
		"empty":    {},
		"eleven":   eleven,
		"letters":  {"abcdefghijkl"},
		"short":    {"12345678901"},
		"one good": {"123456789012", "x"},
	} {
		_, err := getToken(t, c, ids...)
		var ipe *types.InvalidParameterException
		if !errors.As(err, &ipe) {
			t.Errorf("%s: error %v, want *types.InvalidParameterException", name, err)
		}
	}
}

func TestExpiresAt(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{TokenTTL: time.Hour})
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	srv.SetNow(func() time.Time { return now })
	c := ecrClient(srv, "us-west-2", static(keyID, secret, ""))

	check := func(want time.Time) {
		t.Helper()
		out := mustToken(t, c)
		got := aws.ToTime(out.AuthorizationData[0].ExpiresAt)
		if !got.Equal(want) {
			t.Errorf("expiresAt %v, want %v", got, want)
		}
		is := srv.Issued()
		last := is[len(is)-1]
		if !last.ExpiresAt.Equal(want) || !last.At.Equal(now) {
			t.Errorf("Issued: ExpiresAt %v At %v, want %v and %v", last.ExpiresAt, last.At, want, now)
		}
	}
	check(now.Add(time.Hour))
	srv.SetTokenTTL(90 * time.Minute)
	check(now.Add(90 * time.Minute))
	srv.SetTokenTTL(0)
	check(now.Add(ecrtest.DefaultTokenTTL))
	now = now.Add(123*time.Millisecond + 456*time.Microsecond) // sent with millisecond precision
	check(now.Add(12 * time.Hour).Truncate(time.Millisecond))
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	cases := []struct {
		name   string
		creds  aws.CredentialsProvider
		code   string
		status int
		msg    string
	}{
		{"unknown key", static("AKIAUNKNOWNKEY000000", secret, ""), "UnrecognizedClientException", 400,
			"The security token included in the request is invalid."},
		{"wrong secret", static(keyID, "not-the-secret", ""), "InvalidSignatureException", 403,
			"The request signature we calculated does not match the signature you provided"},
		{"session token on a long-term key", static(keyID, secret, "some-session-token"), "UnrecognizedClientException", 400,
			"The security token included in the request is invalid."},
		{"no credentials", aws.AnonymousCredentials{}, "MissingAuthenticationTokenException", 400, ""},
	}
	for _, c := range cases {
		_, err := getToken(t, ecrClient(srv, "us-east-1", c.creds))
		code, status := apiError(t, err)
		if code != c.code || status != c.status {
			t.Errorf("%s: %s %d, want %s %d", c.name, code, status, c.code, c.status)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.msg)
		}
	}
	if srv.Calls() != len(cases) || len(srv.Issued()) != 0 {
		t.Errorf("Calls %d Issued %d, want %d and 0", srv.Calls(), len(srv.Issued()), len(cases))
	}

	mustToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, "")))
	srv.RemoveKey(keyID)
	if code, _ := apiError(t, second(getToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, ""))))); code != "UnrecognizedClientException" {
		t.Errorf("removed key: %s, want UnrecognizedClientException", code)
	}
}

func second[T any](_ T, err error) error { return err }

func TestAssumeRole(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	srv.AddRole(roleARN)
	ctx := context.Background()

	provider := stscreds.NewAssumeRoleProvider(stsClient(srv, "eu-west-1", static(keyID, secret, "")), roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "ecr-updater" })
	out := mustToken(t, ecrClient(srv, "eu-west-1", aws.NewCredentialsCache(provider)))
	if got := aws.ToString(out.AuthorizationData[0].ProxyEndpoint); got != "https://444455556666.dkr.ecr.eu-west-1.amazonaws.com" {
		t.Errorf("proxyEndpoint %q, want the role's account", got)
	}
	is := srv.Issued()[0]
	if is.Account != "444455556666" || !strings.HasPrefix(is.AccessKeyID, "ASIA") {
		t.Errorf("Issued: account %s key %s, want 444455556666 and an ASIA key", is.Account, is.AccessKeyID)
	}
	if got := srv.Assumed(); len(got) != 1 || got[0] != roleARN {
		t.Errorf("Assumed() = %v, want [%s]", got, roleARN)
	}
	if got := srv.Assumptions(); len(got) != 1 || got[0].RoleARN != roleARN || len(got[0].Invocation) != 36 {
		t.Errorf("Assumptions() = %+v, want the role and the SDK's invocation id (a UUID)", got)
	}

	// The temporary key itself: needs its session token, and expires.
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccountID != "444455556666" || !creds.CanExpire || time.Until(creds.Expires) < 10*time.Minute {
		t.Errorf("credentials: account %q expires %v, want the role's account and ~15 min", creds.AccountID, creds.Expires)
	}
	mustToken(t, ecrClient(srv, "eu-west-1", static(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)))
	for name, token := range map[string]string{"no session token": "", "wrong session token": creds.SessionToken + "x"} {
		_, err := getToken(t, ecrClient(srv, "eu-west-1", static(creds.AccessKeyID, creds.SecretAccessKey, token)))
		if code, status := apiError(t, err); code != "UnrecognizedClientException" || status != 400 {
			t.Errorf("%s: %s %d, want UnrecognizedClientException 400", name, code, status)
		}
	}
	srv.ExpireSessions()
	_, err = getToken(t, ecrClient(srv, "eu-west-1", static(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)))
	if code, _ := apiError(t, err); code != "ExpiredTokenException" {
		t.Errorf("expired session: %s, want ExpiredTokenException", code)
	}

	// STS errors.
	stsCases := []struct {
		name, role string
		creds      aws.CredentialsProvider
		code       string
		status     int
	}{
		{"unknown role", "arn:aws:iam::444455556666:role/nope", static(keyID, secret, ""), "AccessDenied", 403},
		{"unknown key", roleARN, static("AKIAUNKNOWNKEY000000", secret, ""), "InvalidClientTokenId", 403},
		{"wrong secret", roleARN, static(keyID, "wrong", ""), "SignatureDoesNotMatch", 403},
	}
	for _, c := range stsCases {
		_, err := stscreds.NewAssumeRoleProvider(stsClient(srv, "eu-west-1", c.creds), c.role).Retrieve(ctx)
		if code, status := apiError(t, err); code != c.code || status != c.status {
			t.Errorf("%s: %s %d, want %s %d", c.name, code, status, c.code, c.status)
		}
	}
	if n := len(srv.Assumed()); n != 2 {
		t.Errorf("Assumed() has %d entries, want 2", n)
	}
	if a := srv.Assumptions(); len(a) != 2 || a[1].Invocation == "" || a[1].Invocation == a[0].Invocation {
		t.Errorf("Assumptions() = %+v, want two operations, two invocation ids", a)
	}

	// Faults restricted to AssumeRole leave ECR alone.
	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionAssumeRole, Code: "RegionDisabledException", Times: 1})
	mustToken(t, ecrClient(srv, "eu-west-1", static(keyID, secret, "")))
	_, err = stscreds.NewAssumeRoleProvider(stsClient(srv, "eu-west-1", static(keyID, secret, "")), roleARN).Retrieve(ctx)
	if code, status := apiError(t, err); code != "RegionDisabledException" || status != 403 {
		t.Errorf("fault: %s %d, want RegionDisabledException 403", code, status)
	}
}

type tokenRetriever string

func (r tokenRetriever) GetIdentityToken() ([]byte, error) { return []byte(r), nil }

func fakeJWT(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." +
		enc([]byte(`{"sub":"`+sub+`","aud":["sts.amazonaws.com"],"iss":"https://oidc.example.com/id/ABC"}`)) + ".c2ln"
}

func TestWebIdentity(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	srv.AddRole(roleARN)
	client := stsClient(srv, "us-east-2", nil) // AssumeRoleWithWebIdentity is unsigned

	provider := stscreds.NewWebIdentityRoleProvider(client, roleARN, tokenRetriever(fakeJWT("system:serviceaccount:infra:ecr-updater")))
	out := mustToken(t, ecrClient(srv, "us-east-2", aws.NewCredentialsCache(provider)))
	if got := aws.ToString(out.AuthorizationData[0].ProxyEndpoint); !strings.HasPrefix(got, "https://444455556666.") {
		t.Errorf("proxyEndpoint %q, want the role's account", got)
	}
	if got := srv.Assumed(); len(got) != 1 || got[0] != roleARN {
		t.Errorf("Assumed() = %v", got)
	}

	_, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s"), WebIdentityToken: aws.String(fakeJWT("me")),
	})
	if err == nil {
		t.Fatal("session name of 1 char accepted")
	}
	resp, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(roleARN), RoleSessionName: aws.String("session-1"), WebIdentityToken: aws.String(fakeJWT("me")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(resp.SubjectFromWebIdentityToken) != "me" || aws.ToString(resp.Audience) != "sts.amazonaws.com" ||
		aws.ToString(resp.AssumedRoleUser.Arn) != "arn:aws:sts::444455556666:assumed-role/ecr-reader/session-1" ||
		aws.ToString(resp.Provider) != "arn:aws:iam::444455556666:oidc-provider/oidc.example.com/id/ABC" {
		t.Errorf("answer: sub %q aud %q arn %q provider %q", aws.ToString(resp.SubjectFromWebIdentityToken),
			aws.ToString(resp.Audience), aws.ToString(resp.AssumedRoleUser.Arn), aws.ToString(resp.Provider))
	}

	_, err = stscreds.NewWebIdentityRoleProvider(client, "arn:aws:iam::444455556666:role/other", tokenRetriever(fakeJWT("x"))).
		Retrieve(context.Background())
	if code, status := apiError(t, err); code != "AccessDenied" || status != 403 {
		t.Errorf("unknown role: %s %d, want AccessDenied 403", code, status)
	}
}

func TestLoadDefaultConfig(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("ap-southeast-2"),
		config.WithCredentialsProvider(static(keyID, secret, "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithBaseEndpoint(srv.URL),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		t.Fatal(err)
	}
	out := mustToken(t, ecr.NewFromConfig(cfg))
	if got := aws.ToString(out.AuthorizationData[0].ProxyEndpoint); got != "https://"+account+".dkr.ecr.ap-southeast-2.amazonaws.com" {
		t.Errorf("proxyEndpoint %q", got)
	}
	// The helper configuration works the same way.
	mustToken(t, ecr.NewFromConfig(srv.AWSConfig("ap-southeast-2", static(keyID, secret, ""))))
	if srv.CallsIn("ap-southeast-2") != 2 {
		t.Errorf("CallsIn = %d, want 2", srv.CallsIn("ap-southeast-2"))
	}
}

// TestEndpointsFromEnvironment runs the SDK's whole default chain from the
// environment: AWS_ENDPOINT_URL_ECR / _STS and a web identity role.
// Not parallel: it sets environment variables.
func TestEndpointsFromEnvironment(t *testing.T) {
	srv := newServer(t, ecrtest.Options{})
	srv.AddRole(roleARN)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(fakeJWT("env")), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_ECR":        srv.URL,
		"AWS_ENDPOINT_URL_STS":        srv.URL,
		"AWS_ENDPOINT_URL":            "",
		"AWS_REGION":                  "sa-east-1",
		"AWS_ROLE_ARN":                roleARN,
		"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_SESSION_NAME":       "from-env",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_DEFAULT_PROFILE":         "",
		"AWS_CA_BUNDLE":               "",
		"AWS_CONFIG_FILE":             filepath.Join(t.TempDir(), "none"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_MAX_ATTEMPTS":            "1",
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mustToken(t, ecr.NewFromConfig(cfg))
	if got := srv.Assumed(); len(got) != 1 || got[0] != roleARN {
		t.Errorf("Assumed() = %v, want the role from AWS_ROLE_ARN", got)
	}
	if is := srv.Issued(); len(is) != 1 || is[0].Region != "sa-east-1" || is[0].Account != "444455556666" {
		t.Errorf("Issued() = %+v", is)
	}
}

func TestFaultCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault  ecrtest.Fault
		code   string
		status int
		typed  func(error) bool
	}{
		{ecrtest.Fault{Code: "ThrottlingException"}, "ThrottlingException", 400, nil},
		{ecrtest.Fault{Code: "ServerException"}, "ServerException", 500,
			func(err error) bool { var e *types.ServerException; return errors.As(err, &e) }},
		{ecrtest.Fault{Code: "AccessDeniedException"}, "AccessDeniedException", 400, nil},
		{ecrtest.Fault{Code: "ExpiredTokenException"}, "ExpiredTokenException", 400, nil},
		{ecrtest.Fault{Code: "UnrecognizedClientException"}, "UnrecognizedClientException", 400, nil},
		{ecrtest.Fault{Code: "InvalidParameterException"}, "InvalidParameterException", 400,
			func(err error) bool { var e *types.InvalidParameterException; return errors.As(err, &e) }},
		{ecrtest.Fault{Code: "ThrottlingException", Status: 429}, "ThrottlingException", 429, nil},
		{ecrtest.Fault{Status: 503}, "UnknownError", 503, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%d", c.code, c.status), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, ecrtest.Options{})
			srv.AddFault(c.fault)
			_, err := getToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, "")))
			code, status := apiError(t, err)
			if code != c.code || status != c.status {
				t.Errorf("%s %d, want %s %d", code, status, c.code, c.status)
			}
			if c.typed != nil && !c.typed(err) {
				t.Errorf("error %T is not the SDK's typed error", err)
			}
			if c.code == "AccessDeniedException" && !strings.Contains(err.Error(),
				"User: arn:aws:iam::"+account+":user/ecrtest is not authorized to perform: ecr:GetAuthorizationToken on resource: *") {
				t.Errorf("message %q", err)
			}
			if srv.Calls() != 1 || len(srv.Issued()) != 0 {
				t.Errorf("Calls %d Issued %d, want 1 and 0", srv.Calls(), len(srv.Issued()))
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	east := ecrClient(srv, "us-east-1", static(keyID, secret, ""))
	west := ecrClient(srv, "us-west-2", static(keyID, secret, ""))
	codeOf := func(c *ecr.Client) string {
		t.Helper()
		_, err := getToken(t, c)
		if err == nil {
			return "ok"
		}
		code, _ := apiError(t, err)
		return code
	}

	// Region.
	srv.AddFault(ecrtest.Fault{Region: "us-west-2", Code: "ServerException"})
	if got := codeOf(east) + " " + codeOf(west); got != "ok ServerException" {
		t.Errorf("region fault: %s", got)
	}
	srv.ClearFaults()
	if got := codeOf(west); got != "ok" {
		t.Errorf("after ClearFaults: %s", got)
	}

	// Order and Times.
	srv.AddFault(ecrtest.Fault{Code: "ThrottlingException", Times: 2})
	srv.AddFault(ecrtest.Fault{Code: "ServerException", Times: 1})
	var got []string
	for range 5 {
		got = append(got, codeOf(east))
	}
	if want := "ThrottlingException ThrottlingException ServerException ok ok"; strings.Join(got, " ") != want {
		t.Errorf("sequence %q, want %q", strings.Join(got, " "), want)
	}

	// An action that is not ECR's.
	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionAssumeRoleWithWebIdentity, Code: "InvalidIdentityToken"})
	if got := codeOf(east); got != "ok" {
		t.Errorf("STS fault hit ECR: %s", got)
	}
}

func TestHang(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	srv.AddFault(ecrtest.Fault{Hang: true})
	c := ecrClient(srv, "us-east-1", static(keyID, secret, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the context deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}

	// Close cuts off a request hanging without a deadline.
	done := make(chan error, 1)
	go func() {
		_, err := c.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
		done <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); srv.Calls() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("hanging call succeeded after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hanging call still running after Close")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	srv.Close() // idempotent
}

func TestDrop(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	srv.AddFault(ecrtest.Fault{Drop: true, Times: 1})
	c := ecrClient(srv, "us-east-1", static(keyID, secret, ""))
	_, err := getToken(t, c)
	var sendErr *smithyhttp.RequestSendError
	var ae smithy.APIError
	if !errors.As(err, &sendErr) || errors.As(err, &ae) {
		t.Errorf("error %v, want a connection error and no AWS answer", err)
	}
	mustToken(t, c)
	if srv.Calls() != 2 {
		t.Errorf("Calls() = %d, want 2", srv.Calls())
	}
}

func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	c := ecrClient(srv, "eu-north-1", static(keyID, secret, ""))

	srv.AddFault(ecrtest.Fault{Token: "%%%not-base64", Times: 1})
	out := mustToken(t, c)
	if got := aws.ToString(out.AuthorizationData[0].AuthorizationToken); got != "%%%not-base64" {
		t.Errorf("token %q, want the garbage one", got)
	}
	if len(srv.Issued()) != 0 {
		t.Error("a garbage token was recorded as issued")
	}

	srv.AddFault(ecrtest.Fault{OmitExpiresAt: true, Times: 1})
	out = mustToken(t, c)
	if d := out.AuthorizationData[0]; d.ExpiresAt != nil || d.ProxyEndpoint == nil {
		t.Errorf("OmitExpiresAt: expiresAt %v proxyEndpoint %v", d.ExpiresAt, d.ProxyEndpoint)
	}
	srv.AddFault(ecrtest.Fault{OmitProxyEndpoint: true, Times: 1})
	out = mustToken(t, c)
	if d := out.AuthorizationData[0]; d.ProxyEndpoint != nil || d.ExpiresAt == nil {
		t.Errorf("OmitProxyEndpoint: expiresAt %v proxyEndpoint %v", d.ExpiresAt, d.ProxyEndpoint)
	}
	srv.AddFault(ecrtest.Fault{Empty: true, Times: 1})
	if out = mustToken(t, c); len(out.AuthorizationData) != 0 {
		t.Errorf("Empty: %d entries", len(out.AuthorizationData))
	}
	if out = mustToken(t, c); len(out.AuthorizationData) != 1 || len(srv.Issued()) != 3 {
		t.Errorf("after the faults: %d entries, %d issued; want 1 and 3", len(out.AuthorizationData), len(srv.Issued()))
	}
}

func TestDelayAndLatency(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{Latency: 50 * time.Millisecond})
	c := ecrClient(srv, "us-east-1", static(keyID, secret, ""))
	timed := func() time.Duration {
		start := time.Now()
		mustToken(t, c)
		return time.Since(start)
	}
	if d := timed(); d < 50*time.Millisecond {
		t.Errorf("Options.Latency: answered in %v", d)
	}
	srv.SetLatency(0)
	srv.AddFault(ecrtest.Fault{Delay: 120 * time.Millisecond, Times: 1})
	if d := timed(); d < 120*time.Millisecond {
		t.Errorf("Delay: answered in %v", d)
	}
	if d := timed(); d > time.Second {
		t.Errorf("no latency: answered in %v", d)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{TLS: true})
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %q", srv.URL)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM()) {
		t.Fatal("CAPEM is not a PEM certificate")
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	})
	mustToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, ""), func(o *ecr.Options) { o.HTTPClient = httpClient }))
	mustToken(t, ecr.NewFromConfig(srv.AWSConfig("us-east-1", static(keyID, secret, ""))))

	_, err := getToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, "")))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: error %v", err)
	}
	plain := ecrtest.New(ecrtest.Options{})
	defer plain.Close()
	if plain.CAPEM() != nil {
		t.Error("CAPEM without TLS")
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	regions := []string{"us-east-1", "eu-west-1", "ap-northeast-1"}
	clients := make([]*ecr.Client, len(regions))
	for i, r := range regions {
		clients[i] = ecrClient(srv, r, static(keyID, secret, ""))
	}
	const workers, calls = 16, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				if _, err := clients[(w+i)%len(clients)].GetAuthorizationToken(context.Background(), nil); err != nil {
					errs <- err
				}
				srv.SetLatency(0)
				_ = srv.Issued()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			srv.AddFault(ecrtest.Fault{Region: "nowhere-1", Code: "ServerException"})
			srv.ClearFaults()
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pws := srv.Passwords()
	unique := map[string]bool{}
	for _, p := range pws {
		unique[p] = true
	}
	if srv.Calls() != workers*calls || len(pws) != workers*calls || len(unique) != len(pws) {
		t.Errorf("Calls %d, passwords %d, unique %d; want %d each", srv.Calls(), len(pws), len(unique), workers*calls)
	}
}

// signedRequest is a raw request signed like the SDK does.
func signedRequest(t *testing.T, srv *ecrtest.Server, service, target, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	const target = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
	const jsonType = "application/x-amz-json-1.1"

	resp, body := do(t, signedRequest(t, srv, "ecr", target, jsonType, "{}"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != jsonType || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("answer %d %v", resp.StatusCode, resp.Header)
	}
	var out struct {
		AuthorizationData []map[string]json.RawMessage `json:"authorizationData"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.AuthorizationData) != 1 {
		t.Fatalf("body %s: %v", body, err)
	}
	if exp := string(out.AuthorizationData[0]["expiresAt"]); !regexp.MustCompile(`^1\.[0-9]+E9$`).MatchString(exp) {
		t.Errorf("expiresAt %s, want epoch seconds as AWS prints them (1.7E9)", exp)
	}

	errCases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"wrong target", signedRequest(t, srv, "ecr", "AmazonEC2ContainerRegistry_V20150921.DeleteRepository", jsonType, "{}"), 400, "UnknownOperationException"},
		{"other service's target", signedRequest(t, srv, "ecr", "Foo.GetAuthorizationToken", jsonType, "{}"), 400, "UnknownOperationException"},
		{"wrong content type", signedRequest(t, srv, "ecr", target, "application/json", "{}"), 400, "SerializationException"},
		{"bad JSON", signedRequest(t, srv, "ecr", target, jsonType, "{"), 400, "SerializationException"},
		{"scoped to sts", signedRequest(t, srv, "sts", target, jsonType, "{}"), 403, "InvalidSignatureException"},
	}
	unsigned, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
	unsigned.Header.Set("X-Amz-Target", target)
	unsigned.Header.Set("Content-Type", jsonType)
	errCases = append(errCases, struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{"unsigned", unsigned, 400, "MissingAuthenticationTokenException"})
	tampered := signedRequest(t, srv, "ecr", target, jsonType, "{}")
	tampered.Body = io.NopCloser(strings.NewReader("[]"))
	errCases = append(errCases, struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{"body changed after signing", tampered, 403, "InvalidSignatureException"})

	for _, c := range errCases {
		resp, body := do(t, c.req)
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != c.status || resp.Header.Get("X-Amzn-ErrorType") != c.code || e.Type != c.code ||
			resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("%s: %d %q %s, want %d %s", c.name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body, c.status, c.code)
		}
	}

	// STS errors are XML.
	resp, body = do(t, signedRequest(t, srv, "sts", "", "application/x-www-form-urlencoded",
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A444455556666%3Arole%2Fnone&RoleSessionName=s1s"))
	var xe struct {
		Error     struct{ Type, Code, Message string }
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(body, &xe); err != nil || resp.StatusCode != 403 || xe.Error.Code != "AccessDenied" ||
		xe.Error.Type != "Sender" || xe.RequestID == "" ||
		!strings.Contains(xe.Error.Message, "is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/none") {
		t.Errorf("STS error: %d %s (%v)", resp.StatusCode, body, err)
	}
	resp, _ = do(t, signedRequest(t, srv, "sts", "", "application/x-www-form-urlencoded", "Action=GetSessionToken&Version=2011-06-15"))
	if resp.StatusCode != 400 {
		t.Errorf("unknown STS action: %d", resp.StatusCode)
	}
}

func TestBadSetup(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	for name, f := range map[string]func(){
		"short account": func() { srv.AddKey("AKIA1", "s", "12345") },
		"empty secret":  func() { srv.AddKey("AKIA1", "", account) },
		"user ARN":      func() { srv.AddRole("arn:aws:iam::123456789012:user/bob") },
		"no account":    func() { srv.AddRole("arn:aws:iam:::role/r") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	srv.AddRole("arn:aws-cn:iam::123456789012:role/path/to/r") // paths and other partitions are fine
}

// BenchmarkGetAuthorizationToken measures one signed call through the real SDK.
func BenchmarkGetAuthorizationToken(b *testing.B) {
	srv := ecrtest.New(ecrtest.Options{})
	defer srv.Close()
	srv.AddKey(keyID, secret, account)
	c := ecr.NewFromConfig(srv.AWSConfig("us-east-1", static(keyID, secret, "")))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetAuthorizationToken(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	srv.ResetIssued()
}
