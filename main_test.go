package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
	"github.com/ecr-updater/ecr-updater/internal/standin"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// The test binary doubles as the daemon: with ECR_UPDATER_TEST_ARGS set it runs the command line in it, so the
// tests below run the real program, in its own process, with its own environment.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("ECR_UPDATER_TEST_ARGS"); ok {
		ctx, stop := signalContext(context.Background())
		code := run(ctx, append([]string{"ecr-updater"}, strings.Fields(args)...), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const (
	account                = "123456789012"
	envAccess, envSecret   = "ENVACCESS00000000001", "rancher-env-secret-7f3e9b2c1a"
	acctAccess, acctSecret = "ACCTACCESS0000000001", "rancher-acct-secret-5d4c3b2a19"
	awsKeyID, awsSecret    = "AKIAE2E0000000000001", "aws-secret-key-e2e-0a1b2c3d4e5f"
)

// e2e is a Rancher and an ECR stand-in for the daemon in a child process.
type e2e struct {
	t       *testing.T
	rancher *ranchertest.Server
	ecr     *ecrtest.Server
	env     string
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	w := &e2e{t: t, rancher: ranchertest.New(ranchertest.Options{}), ecr: ecrtest.New(ecrtest.Options{})}
	t.Cleanup(w.rancher.Close)
	t.Cleanup(w.ecr.Close)
	w.ecr.AddKey(awsKeyID, awsSecret, account)
	w.env = w.rancher.AddEnvironment("Default")
	w.rancher.AddEnvironmentKey(w.env, envAccess, envSecret)
	w.rancher.AddAccountKey(acctAccess, acctSecret, true)
	return w
}

func host(region string) string { return account + ".dkr.ecr." + region + ".amazonaws.com" }

// env is the environment of an agent container: the /v1 URL and an environment key, plus IAM keys.
func (w *e2e) env0() map[string]string {
	return map[string]string{
		"CATTLE_URL": w.rancher.URL + "/v1", "CATTLE_ACCESS_KEY": envAccess, "CATTLE_SECRET_KEY": envSecret,
		"AWS_ACCESS_KEY_ID": awsKeyID, "AWS_SECRET_ACCESS_KEY": awsSecret, "AWS_REGION": "us-east-1",
		"AWS_ENDPOINT_URL_ECR": w.ecr.URL, "AWS_EC2_METADATA_DISABLED": "true", "LISTEN_PORT": "0",
	}
}

// command prepares the daemon in a child process with exactly env (and PATH, HOME).
func command(t *testing.T, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ECR_UPDATER_TEST_ARGS=" + strings.Join(args, " ")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// daemon runs the command to its end and returns its exit status and everything it printed.
func daemon(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	cmd := command(t, env, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func TestOnceWritesTheRightCredentials(t *testing.T) {
	w := newE2E(t)
	reg := w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	ecrCred := w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active")
	hub := w.rancher.AddRegistry(w.env, "index.docker.io", "active")
	hubCred := w.rancher.AddCredential(w.env, hub, "me", "docker-hub-password", "active")
	bare := w.rancher.AddRegistry(w.env, host("eu-west-1"), "active")

	code, out := daemon(t, w.env0(), "once")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	latest := map[string]string{}
	for _, is := range w.ecr.Issued() {
		latest[is.Region] = is.Password
	}
	if c, _ := w.rancher.Credential(ecrCred); c.SecretValue != latest["us-east-1"] || c.PublicValue != "AWS" {
		t.Errorf("ECR credential not refreshed: %+v", c)
	}
	if c, _ := w.rancher.Credential(hubCred); c.SecretValue != "docker-hub-password" || c.Writes != 0 {
		t.Errorf("Docker Hub credential touched: %+v", c)
	}
	created := 0
	for _, c := range w.rancher.Credentials(w.env) {
		if c.RegistryID == bare {
			created++
			if c.SecretValue != latest["eu-west-1"] {
				t.Errorf("created credential has the wrong password")
			}
		}
	}
	if created != 1 {
		t.Errorf("%d credentials for the registry without one, want 1", created)
	}
	if len(w.rancher.Registries(w.env)) != 3 {
		t.Errorf("registries: %+v", w.rancher.Registries(w.env))
	}
	for _, want := range []string{`msg=starting`, `msg="credential updated"`, `msg="credential created"`, `msg="pass done"`, "updated=1", "created=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

func TestOnceExitStatus(t *testing.T) {
	w := newE2E(t)
	reg := w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active")

	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, Status: 500, Times: 1})
	if code, out := daemon(t, w.env0(), "once"); code != 1 {
		t.Errorf("a failed write: exit %d, want 1:\n%s", code, out)
	}
	// An environment key asked for another environment: a configuration error found at the first request.
	env := w.env0()
	env["CATTLE_URL"], env["RANCHER_ENVIRONMENTS"] = w.rancher.URL, "Production"
	if code, out := daemon(t, env, "once"); code != 2 || !strings.Contains(out, "Environment API key") {
		t.Errorf("environment key with RANCHER_ENVIRONMENTS: exit %d, want 2:\n%s", code, out)
	}
	// Rancher unreachable: a runtime failure, not a configuration error.
	env = w.env0()
	env["CATTLE_URL"] = "http://127.0.0.1:1/v1"
	if code, out := daemon(t, env, "once"); code != 1 || !strings.Contains(out, "connection refused") {
		t.Errorf("Rancher unreachable: exit %d, want 1:\n%s", code, out)
	}
}

// TestNoSecretsInOutput runs the daemon at debug level with go-rancher's debug switch on, through success and
// through every error path that carries bodies (4xx/5xx answers, a malformed token, bad AWS keys), in text and
// JSON, and searches everything it printed for every secret.
func TestNoSecretsInOutput(t *testing.T) {
	w := newE2E(t)
	for i, region := range []string{"us-east-1", "eu-west-1", "ap-south-1", "us-west-2"} {
		reg := w.rancher.AddRegistry(w.env, host(region), "active")
		w.rancher.AddCredential(w.env, reg, "AWS", fmt.Sprintf("old-secret-%d", i), "active")
	}
	w.rancher.AddRegistry(w.env, host("sa-east-1"), "active") // gets a credential created: POST answers carry secretValue
	leak := "leaky-garbage-token-secret"
	w.ecr.AddFault(ecrtest.Fault{Region: "ap-south-1", Token: base64.StdEncoding.EncodeToString([]byte("root:" + leak))})
	w.ecr.AddFault(ecrtest.Fault{Region: "us-west-2", Token: base64.StdEncoding.EncodeToString([]byte(leak))})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "registrycredentials", Status: 422, Times: 1})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, PathContains: "registrycredentials", Status: 500, Times: 1})

	var outputs []string
	for _, format := range []string{"text", "json"} {
		env := w.env0()
		env["LOG_LEVEL"], env["LOG_FORMAT"], env["RANCHER_CLIENT_DEBUG"] = "debug", format, "true"
		env["AWS_SESSION_TOKEN"] = ""
		_, out := daemon(t, env, "once")
		outputs = append(outputs, out)
	}
	// Bad AWS secret and bad Rancher secret: the error paths print the keys' names, never their values.
	env := w.env0()
	env["LOG_LEVEL"], env["RANCHER_CLIENT_DEBUG"] = "debug", "true"
	env["AWS_SECRET_ACCESS_KEY"] = "wrong-aws-secret-value-123"
	_, out := daemon(t, env, "once")
	outputs = append(outputs, out)
	env = w.env0()
	env["LOG_LEVEL"], env["RANCHER_CLIENT_DEBUG"] = "debug", "true"
	env["CATTLE_SECRET_KEY"] = "wrong-rancher-secret-value-456"
	_, out = daemon(t, env, "once")
	outputs = append(outputs, out)

	secrets := []string{envSecret, awsSecret, leak, "wrong-aws-secret-value-123", "wrong-rancher-secret-value-456"}
	for _, is := range w.ecr.Issued() {
		secrets = append(secrets, is.Password, is.Token)
	}
	if len(w.ecr.Issued()) < 4 {
		t.Fatalf("only %d tokens issued; the runs did not get far enough to test anything", len(w.ecr.Issued()))
	}
	all := strings.Join(outputs, "\n")
	if os.Getenv("PEEK") != "" {
		t.Log(all)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("output contains a secret (%d chars, starts %q)", len(s), s[:4])
		}
	}
	for _, s := range []string{"Rancher client debug on", "secretValue", "Request =>"} {
		if strings.Contains(all, s) {
			t.Errorf("go-rancher debug output: %q", s)
		}
	}
	// The runs did go through the error paths.
	for _, want := range []string{"422", "500", "invalid ECR authorization token", "InvalidSignatureException", "401", "level=debug", `"level":"debug"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the output: the error path was not exercised", want)
		}
	}
}

// TestRunServesHealthAndStopsOnSIGTERM runs the daemon: /ping, /healthz, /readyz and /metrics answer, the
// healthcheck command agrees, and SIGTERM ends it with status 0 well within 10 s.
func TestRunServesHealthAndStopsOnSIGTERM(t *testing.T) {
	w := newE2E(t)
	reg := w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active")
	port := freePort(t)
	env := w.env0()
	env["LISTEN_PORT"] = fmt.Sprint(port)
	cmd := command(t, env, "run")
	var out standin.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := fetch(base + "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := fetch(base + "/ping"); code != 200 || body != "pong" {
		t.Errorf("/ping: %d %q", code, body)
	}
	if code, body := fetch(base + "/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) || !strings.Contains(body, "next_pass") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	_, metrics := fetch(base + "/metrics")
	// Prometheus's own parser and linter judge a real daemon's scrape (promtexttest fails the test on any problem).
	fams := promtexttest.Parse(t, []byte(metrics))
	t.Logf("the daemon's /metrics: %d families, %d promlint problems", len(fams), len(promtexttest.Lint(t, fams)))
	for _, m := range []string{`ecr_updater_passes_total{result="success"} 1`, `ecr_updater_credentials_written_total{action="updated"} 1`,
		"ecr_updater_last_success_timestamp_seconds", "ecr_updater_next_pass_timestamp_seconds",
		`ecr_updater_token_expiry_timestamp_seconds{region="us-east-1"}`, `ecr_updater_request_duration_seconds_count{operation="update credential",target="rancher"} 1`,
		`ecr_updater_request_duration_seconds_count{operation="GetAuthorizationToken",target="ecr"} 1`, "ecr_updater_build_info{",
		"go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if code, hc := daemon(t, map[string]string{"LISTEN_PORT": fmt.Sprint(port)}, "healthcheck"); code != 0 {
		t.Errorf("healthcheck: exit %d %s", code, hc)
	}
	// EVENTS is on by default: the daemon holds the environment's event stream.
	for w.rancher.Subscribers("") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no event stream (%d sockets):\n%s", w.rancher.Subscribers(""), out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := fetch(base + "/healthz"); !strings.Contains(body, `"events":{"`+w.env+`":"connected"}`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	if n, closed := w.rancher.Subscribers(""), w.rancher.ClosedByClient(); n != 0 || closed != 1 {
		t.Errorf("after SIGTERM: %d sockets open, %d closed by the daemon with a close frame", n, closed)
	}
	if code, _ := daemon(t, map[string]string{"LISTEN_PORT": fmt.Sprint(port)}, "healthcheck"); code != 1 {
		t.Errorf("healthcheck of a stopped daemon: exit %d, want 1", code)
	}
}

// TestSignalStopsGracefully: SIGTERM, SIGINT and SIGHUP each stop the daemon the same way, whatever moment they
// arrive: the write in flight finishes (it is slower than the signal), no new write starts, the log names the
// signal, and the exit status is 0. A second signal during the stop changes nothing.
func TestSignalStopsGracefully(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		name := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP"}[sig]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newE2E(t)
			var creds []string
			for _, region := range []string{"us-east-1", "eu-west-1"} {
				reg := w.rancher.AddRegistry(w.env, host(region), "active")
				creds = append(creds, w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active"))
			}
			// The first write takes 2 s, well within the 8 s grace; one write at a time, so the second would
			// start only after the signal.
			w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, Delay: 2 * time.Second, Times: 1})
			writing := make(chan struct{}, 4)
			w.rancher.OnRequest(func(r *http.Request) {
				if r.Method == http.MethodPut {
					writing <- struct{}{}
				}
			})
			env := w.env0()
			env["RANCHER_CONCURRENCY"] = "1"
			cmd := command(t, env, "run")
			var out standin.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			select {
			case <-writing:
			case <-time.After(20 * time.Second):
				t.Fatalf("no write within 20 s:\n%s", out.String())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil { // the second one is ignored
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %s: %v\n%s", name, err, out.String())
				}
			case <-time.After(12 * time.Second):
				t.Fatalf("still running 12 s after %s:\n%s", name, out.String())
			}
			written := 0
			for _, id := range creds {
				if c, _ := w.rancher.Credential(id); c.Writes > 0 {
					written++
				}
			}
			if written != 1 {
				t.Errorf("%d credentials written, want 1: the write in flight, and no new one after %s\n%s", written, name, out.String())
			}
			if !strings.Contains(out.String(), "signal="+name) || !strings.Contains(out.String(), "stopping") {
				t.Errorf("the log does not say that %s stops the daemon:\n%s", name, out.String())
			}
		})
	}
}

// TestProxies: with HTTP_PROXY set, both the Rancher client (go-rancher included) and the AWS SDK go through
// the proxy. The stand-ins are named by hosts only the proxy can resolve, so a request that bypassed the proxy
// would fail.
func TestProxies(t *testing.T) {
	w := newE2E(t)
	reg := w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	cred := w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active")
	_, rport, _ := net.SplitHostPort(hostPort(w.rancher.URL))
	_, eport, _ := net.SplitHostPort(hostPort(w.ecr.URL))
	rancherName, ecrName := "rancher.proxied.test:"+rport, "ecr.proxied.test:"+eport
	proxy := standin.NewProxy(map[string]string{rancherName: hostPort(w.rancher.URL), ecrName: hostPort(w.ecr.URL)})
	defer proxy.Close()
	env := w.env0()
	env["CATTLE_URL"] = "http://" + rancherName + "/v1"
	env["AWS_ENDPOINT_URL_ECR"] = "http://" + ecrName
	env["HTTP_PROXY"] = proxy.URL
	env["NO_PROXY"] = "169.254.169.254"
	code, out := daemon(t, env, "once")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	hosts := proxy.Hosts()
	for _, name := range []string{rancherName, ecrName} {
		if hosts[name] == 0 {
			t.Errorf("no request to %s went through the proxy: %v", name, hosts)
		}
	}
	if c, _ := w.rancher.Credential(cred); c.Writes != 1 {
		t.Errorf("credential not written through the proxy: %+v", c)
	}
	if proxy.Requests() != w.rancher.RequestCount()+w.ecr.Calls() {
		t.Errorf("proxy saw %d requests, the stand-ins %d + %d", proxy.Requests(), w.rancher.RequestCount(), w.ecr.Calls())
	}
}

// TestRancherCA: a Rancher with a self-signed certificate is trusted through RANCHER_CA_CERT (a path, or the PEM in
// any of the forms an operator gives it) or RANCHER_CA_CERT_FILE, refused without it, and reached with
// RANCHER_INSECURE_SKIP_VERIFY, which warns loudly.
func TestRancherCA(t *testing.T) {
	rs := ranchertest.New(ranchertest.Options{TLS: true})
	defer rs.Close()
	w := newE2E(t)
	env := rs.AddEnvironment("Default")
	rs.AddEnvironmentKey(env, envAccess, envSecret)
	reg := rs.AddRegistry(env, host("us-east-1"), "active")
	cred := rs.AddCredential(env, reg, "AWS", "stale", "active")
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, rs.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := w.env0()
	base["CATTLE_URL"] = rs.URL + "/v1"

	if code, out := daemon(t, base, "once"); code != 1 || !strings.Contains(out, "certificate") {
		t.Errorf("untrusted certificate: exit %d:\n%s", code, out)
	}
	withCA := map[string]string{"RANCHER_CA_CERT": ca}
	insecure := map[string]string{"RANCHER_INSECURE_SKIP_VERIFY": "true"}
	// The PEM itself, as the catalog's multiline question gives it; on one line with \n escapes; with CRLF line
	// breaks; from RANCHER_CA_CERT_FILE (a Rancher secret); and with another CA before it (a bundle).
	pemText := string(rs.CAPEM())
	content := map[string]string{"RANCHER_CA_CERT": pemText}
	oneLine := map[string]string{"RANCHER_CA_CERT": strings.ReplaceAll(strings.TrimSpace(pemText), "\n", `\n`)}
	crlf := map[string]string{"RANCHER_CA_CERT": strings.ReplaceAll(pemText, "\n", "\r\n")}
	fromFile := map[string]string{"RANCHER_CA_CERT_FILE": ca}
	bundle := map[string]string{"RANCHER_CA_CERT": string(testCA(t)) + pemText}
	for i, extra := range []map[string]string{withCA, insecure, content, oneLine, crlf, fromFile, bundle} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		code, out := daemon(t, env, "once")
		if code != 0 {
			t.Fatalf("case %d: exit %d:\n%s", i, code, out)
		}
		if c, _ := rs.Credential(cred); c.Writes != i+1 {
			t.Errorf("case %d: credential writes %d", i, c.Writes)
		}
		if _, ok := extra["RANCHER_INSECURE_SKIP_VERIFY"]; ok && !strings.Contains(out, "NOT verified") {
			t.Errorf("no warning for RANCHER_INSECURE_SKIP_VERIFY:\n%s", out)
		}
	}
}

func hostPort(u string) string {
	return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fetch(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
