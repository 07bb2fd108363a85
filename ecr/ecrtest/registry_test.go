package ecrtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

func TestGetCallerIdentity(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	srv.AddRole(roleARN)
	ctx := context.Background()

	out, err := stsClient(srv, "eu-west-1", static(keyID, secret, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != account || aws.ToString(out.Arn) != "arn:aws:iam::"+account+":user/ecrtest" ||
		!strings.HasPrefix(aws.ToString(out.UserId), "AIDA") {
		t.Fatalf("user: %s %s %s", aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
	}

	role := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient(srv, "eu-west-1", static(keyID, secret, "")), roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "doctor" }))
	out, err = stsClient(srv, "eu-west-1", role).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != "444455556666" || aws.ToString(out.Arn) != "arn:aws:sts::444455556666:assumed-role/ecr-reader/doctor" ||
		!strings.HasPrefix(aws.ToString(out.UserId), "AROA") || !strings.HasSuffix(aws.ToString(out.UserId), ":doctor") {
		t.Fatalf("role: %s %s %s", aws.ToString(out.Account), aws.ToString(out.Arn), aws.ToString(out.UserId))
	}

	// Bad keys and faults answer as STS does.
	_, err = stsClient(srv, "eu-west-1", static("AKIAUNKNOWN000000000", secret, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "InvalidClientTokenId" || status != 403 {
		t.Errorf("unknown key: %s %d", code, status)
	}
	_, err = stsClient(srv, "eu-west-1", static(keyID, "wrong", "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code, _ := apiError(t, err); code != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %s", code)
	}
	srv.AddFault(ecrtest.Fault{Action: ecrtest.ActionGetCallerIdentity, Code: "Throttling", Times: 1})
	_, err = stsClient(srv, "eu-west-1", static(keyID, secret, "")).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if code, status := apiError(t, err); code != "Throttling" || status != 400 {
		t.Errorf("fault: %s %d", code, status)
	}
}

func registryGet(t *testing.T, c *http.Client, host, path, user, pw string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRegistryHosts(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	now := time.Now()
	srv.SetNow(func() time.Time { return now })
	east := password(t, *mustToken(t, ecrClient(srv, "us-east-1", static(keyID, secret, ""))).AuthorizationData[0].AuthorizationToken)
	west := password(t, *mustToken(t, ecrClient(srv, "eu-west-1", static(keyID, secret, ""))).AuthorizationData[0].AuthorizationToken)
	c := srv.RegistryClient()
	own := account + ".dkr.ecr.us-east-1.amazonaws.com"
	other := "999999999999.dkr.ecr.us-east-1.amazonaws.com"
	westHost := account + ".dkr.ecr.eu-west-1.amazonaws.com"

	challenge := func(host string) string { return `Basic realm="https://` + host + `/",service="ecr.amazonaws.com"` }
	for _, tc := range []struct {
		name, host, path, user, pw string
		status                     int
	}{
		{"own registry", own, "/v2/", "AWS", east, 200},
		{"another account, same region", other, "/v2/", "AWS", east, 200},
		{"eu-west-1 token there", westHost, "/v2/", "AWS", west, 200},
		{"us-east-1 token in eu-west-1", westHost, "/v2/", "AWS", east, 401},
		{"no credentials", own, "/v2/", "", "", 401},
		{"user other than AWS", own, "/v2/", "admin", east, 401},
		{"a password never issued", own, "/v2/", "AWS", "bm90LWlzc3VlZA==", 401},
		{"another path, authorised", own, "/v2/app/manifests/1", "AWS", east, 404},
		{"another path, no credentials", own, "/v2/app/manifests/1", "", "", 401},
		{"not the registry API", own, "/", "AWS", east, 404},
	} {
		resp, body := registryGet(t, c, tc.host, tc.path, tc.user, tc.pw)
		if resp.StatusCode != tc.status || resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, body)
		}
		if tc.status == 401 && (resp.Header.Get("WWW-Authenticate") != challenge(tc.host) || strings.TrimSpace(body) != "Not Authorized") {
			t.Errorf("%s: challenge %q body %q", tc.name, resp.Header.Get("WWW-Authenticate"), body)
		}
		if tc.status == 200 && body != "{}" {
			t.Errorf("%s: body %q", tc.name, body)
		}
	}

	// A denied registry refuses a token that works next door; allowing it again restores it.
	srv.DenyRegistry("999999999999", "us-east-1")
	if resp, _ := registryGet(t, c, other, "/v2/", "AWS", east); resp.StatusCode != 401 {
		t.Errorf("denied: %d", resp.StatusCode)
	}
	if resp, _ := registryGet(t, c, own, "/v2/", "AWS", east); resp.StatusCode != 200 {
		t.Errorf("next to a denied registry: %d", resp.StatusCode)
	}
	srv.AllowRegistry("999999999999", "us-east-1")
	if resp, _ := registryGet(t, c, other, "/v2/", "AWS", east); resp.StatusCode != 200 {
		t.Errorf("allowed again: %d", resp.StatusCode)
	}

	// Tokens expire by the server's clock.
	now = now.Add(13 * time.Hour)
	if resp, _ := registryGet(t, c, own, "/v2/", "AWS", east); resp.StatusCode != 401 {
		t.Errorf("expired token: %d", resp.StatusCode)
	}

	// Other methods; the proxy tunnels only to registry hosts on 443.
	req, _ := http.NewRequest(http.MethodPost, "https://"+own+"/v2/", nil)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	for _, u := range []string{"https://example.com/v2/", "https://" + own + ":5000/v2/"} {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s reached through the proxy: %d", u, resp.StatusCode)
		}
	}
	reqs := srv.RegistryRequests()
	if len(reqs) < 15 || reqs[0] != (ecrtest.RegistryRequest{Host: own, Method: "GET", Path: "/v2/", Status: 200}) ||
		reqs[len(reqs)-1].Method != http.MethodConnect || reqs[len(reqs)-1].Status != 403 {
		t.Errorf("records: %+v", reqs)
	}

	// A client that does not trust the registry CA fails the handshake.
	plain := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, srv.RegistryProxyURL()))}}
	if resp, err := plain.Get("https://" + own + "/v2/"); err == nil {
		resp.Body.Close()
		t.Error("an untrusted certificate was accepted")
	}
}

func TestRegistryHostsManyAtOnce(t *testing.T) {
	t.Parallel()
	srv := newServer(t, ecrtest.Options{})
	pw := password(t, *mustToken(t, ecrClient(srv, "us-west-2", static(keyID, secret, ""))).AuthorizationData[0].AuthorizationToken)
	c := srv.RegistryClient()
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		go func() {
			host := fmt.Sprintf("%012d.dkr.ecr.us-west-2.amazonaws.com", 100000000000+i)
			req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/v2/", nil)
			req.SetBasicAuth("AWS", pw)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("%s: %d", host, resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 20; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	srv.Close() // with the registry side started, Close still returns
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
