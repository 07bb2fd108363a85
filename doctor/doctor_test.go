package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
	"github.com/ecr-updater/ecr-updater/updater"
)

const (
	account              = "123456789012"
	awsKey, awsSecret    = "AKIADOCTOR0000000001", "doctor-aws-secret-0a1b2c3d"
	adminKey, adminSecr  = "ADMINDOCTOR000000001", "doctor-admin-secret-9f8e7d"
	envKey, envKeySecret = "ENVDOCTOR00000000001", "doctor-env-secret-6c5b4a"
)

func ecrHost(acct, region string) string { return acct + ".dkr.ecr." + region + ".amazonaws.com" }

// world is a Rancher and an ECR stand-in, and a doctor configuration for them.
type world struct {
	rancher *ranchertest.Server
	ecr     *ecrtest.Server
	cfg     Config
}

func newWorld(t *testing.T, ro ranchertest.Options, eo ecrtest.Options) *world {
	t.Helper()
	w := &world{rancher: ranchertest.New(ro), ecr: ecrtest.New(eo)}
	t.Cleanup(w.rancher.Close)
	t.Cleanup(w.ecr.Close)
	w.ecr.AddKey(awsKey, awsSecret, account)
	w.rancher.AddAccountKey(adminKey, adminSecr, true)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, w.ecr.RegistryCAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	s := redact.NewScrubber()
	s.Add(adminSecr, envKeySecret, awsSecret)
	w.cfg = Config{Updater: updater.Config{
		Rancher:      rancher.Options{Endpoint: rancher.Endpoint{Origin: w.rancher.URL}, AccessKey: adminKey, SecretKey: adminSecr, Timeout: 5 * time.Second},
		Environments: []string{"all"},
		Concurrency:  8,
		Rules:        updater.Rules{HomeRegion: "us-east-1"},
		ECR: ecr.Config{HomeRegion: "us-east-1", Endpoint: w.ecr.URL, STSEndpoint: w.ecr.URL, Timeout: 5 * time.Second, MaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(awsKey, awsSecret, ""), Proxy: w.ecr.RegistryProxy()},
		Scrubber: s,
	}}
	return w
}

func find(t *testing.T, rep *Report, check, detail string) Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Check == check && strings.Contains(c.Detail, detail) {
			return c
		}
	}
	var b bytes.Buffer
	_ = rep.WriteText(&b, nil)
	t.Fatalf("no check %q with %q in:\n%s", check, detail, b.String())
	return Check{}
}

func TestWarningsAndEnvironments(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	b := w.rancher.AddEnvironment("beta")
	w.rancher.SetEnvironmentState(b, "inactive")
	w.rancher.AddRegistry(a, ecrHost(account, "us-east-1"), "")
	w.rancher.AddRegistry(a, ecrHost(account, "eu-west-1"), "inactive")
	w.rancher.AddRegistry(a, "12345.dkr.ecr.us-east-1.amazonaws.com", "")
	other := w.rancher.AddRegistry(a, ecrHost("999999999999", "us-east-1"), "")
	w.rancher.AddService(a, "web", ecrHost("999999999999", "us-east-1")+"/web:1", ecrHost(account, "eu-west-1")+"/side:1")
	w.rancher.AddService(a, "bad", "docker:ngi nx")
	w.rancher.AddService(a, "odd", "12345.dkr.ecr.us-east-1.amazonaws.com/x")
	w.cfg.Updater.Environments = []string{"alpha", "beta", "gamma"}
	w.cfg.Updater.Rules.Accounts = []string{account}

	rep := Run(context.Background(), w.cfg)
	if rep.Exit() != ExitFailed {
		t.Fatalf("exit %d", rep.Exit())
	}
	find(t, rep, "rancher: API key", "Account API key of an administrator, the environment selection=alpha,beta,gamma: 3 environment(s)")
	if c := find(t, rep, "env "+b+" (beta)", "skipped: environment is inactive"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, "env gamma", `environment "gamma": no such environment`); c.Result != Fail {
		t.Errorf("%+v", c)
	}
	label := "env " + a + " (alpha)"
	if c := find(t, rep, label+": registry 1sp2", "skipped: registry is inactive"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": registry 1sp3", "looks like an ECR registry"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": registry "+other, "left alone: account 999999999999 is not in the ECR registry ids"); c.Result != OK {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": ECR images", ecrHost("999999999999", "us-east-1")+": registry "+other+" serves it, but this updater leaves it alone"); c.Result != Warn || c.Registry != other {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": ECR images", ecrHost(account, "eu-west-1")+": registry 1sp2 is inactive"); c.Result != Fail ||
		fmt.Sprint(c.Services) != "[web (1s1) sidekick web-sidekick-1]" {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": service bad (1s2)", "spaces"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, label+": service odd (1s3)", "looks like ECR but is not one"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	find(t, rep, label+": registry 1sp1", "the us-east-1 token opens it")
}

func TestNoECRAndNoServices(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	w.rancher.AddRegistry(a, "index.docker.io", "")
	w.rancher.AddService(a, "web", "nginx")
	rep := Run(context.Background(), w.cfg)
	if rep.Exit() != ExitOK {
		t.Fatalf("exit %d", rep.Exit())
	}
	find(t, rep, "aws: tokens", "no region in use")
	find(t, rep, "env "+a+" (alpha): registries", "no ECR registry among its 1 registries")
	find(t, rep, "env "+a+" (alpha): services", "1 services, none uses an ECR image")
}

func TestBadAWSCredentials(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	w.rancher.AddRegistry(a, ecrHost(account, "us-east-1"), "")
	w.cfg.Updater.ECR.Credentials = credentials.NewStaticCredentialsProvider(awsKey, "wrong-secret-000000", "")
	rep := Run(context.Background(), w.cfg)
	if c := find(t, rep, "aws: caller identity", "SignatureDoesNotMatch"); c.Result != Fail || !strings.Contains(c.Detail, "AWS_SECRET_ACCESS_KEY does not belong to AWS_ACCESS_KEY_ID") {
		t.Errorf("%+v", c)
	}
	if c := find(t, rep, "aws: token us-east-1", "InvalidSignatureException"); c.Result != Fail || !strings.HasPrefix(c.Fix, "fix the AWS credentials") {
		t.Errorf("%+v", c)
	}
	find(t, rep, "env "+a+" (alpha): registry 1sp1", "no token for us-east-1")
}

func TestEnvironmentKeyAskedForOthersIsAConfigurationError(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	w.rancher.AddEnvironmentKey(a, envKey, envKeySecret)
	w.cfg.Updater.Rancher.AccessKey, w.cfg.Updater.Rancher.SecretKey = envKey, envKeySecret
	w.cfg.Updater.Environments = []string{"prod"}
	rep := Run(context.Background(), w.cfg)
	if rep.Exit() != ExitConfig {
		t.Fatalf("exit %d", rep.Exit())
	}
	find(t, rep, "configuration", "is an Environment API key")
}

// TestAgentKey: the key Rancher gives a container with the agent labels (kind "environment" or "projectadmin") is
// named as such, is bound to its environment (known from X-API-Account-Id before any registry is listed), and
// asking it for other environments is a configuration error that names it.
func TestAgentKey(t *testing.T) {
	for _, role := range []string{ranchertest.AgentRoleEnvironment, ranchertest.AgentRoleEnvironmentAdmin} {
		t.Run(role, func(t *testing.T) {
			w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
			a := w.rancher.AddEnvironment("alpha")
			w.rancher.AddAgentKey(a, role, envKey, envKeySecret)
			w.cfg.Updater.Rancher.AccessKey, w.cfg.Updater.Rancher.SecretKey = envKey, envKeySecret
			w.cfg.Updater.Environments = nil
			rep := Run(context.Background(), w.cfg)
			if rep.Exit() != ExitOK {
				var b bytes.Buffer
				_ = rep.WriteText(&b, nil)
				t.Fatalf("exit %d:\n%s", rep.Exit(), b.String())
			}
			find(t, rep, "rancher: API key", "the key Rancher gave this container (agent labels), the key's own environment")
			// No registry to show the environment's id: it comes from the key.
			find(t, rep, "env "+a+": write access", "may create registries")

			w.cfg.Updater.Environments = []string{"prod"}
			rep = Run(context.Background(), w.cfg)
			if rep.Exit() != ExitConfig {
				t.Fatalf("exit %d", rep.Exit())
			}
			find(t, rep, "configuration", "is the key Rancher gave this container (agent labels)")
		})
	}
}

// TestBounded: a Rancher that hangs costs a timeout per environment at most, and the whole run its budget.
func TestBounded(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	for i := 0; i < 20; i++ {
		e := w.rancher.AddEnvironment(fmt.Sprint("env", i))
		w.rancher.AddRegistry(e, ecrHost(account, "us-east-1"), "")
	}
	w.rancher.AddFault(ranchertest.Fault{PathContains: "/services", Hang: true})
	w.cfg.Updater.Rancher.Timeout = time.Second
	w.cfg.Budget = 3 * time.Second
	start := time.Now()
	rep := Run(context.Background(), w.cfg)
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("took %s", d)
	}
	if rep.Exit() != ExitFailed {
		t.Fatalf("exit %d", rep.Exit())
	}
	n := 0
	for _, c := range rep.Checks {
		if strings.HasSuffix(c.Check, ": read services") && c.Result == Fail && strings.Contains(c.Detail, "list services") {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no read failure reported")
	}
	find(t, rep, "doctor: time", "the checks did not finish within 3s")
}

func TestRancherFailures(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	w.rancher.AddRegistry(a, ecrHost(account, "us-east-1"), "")

	// The environment list fails: no environment is read.
	w.rancher.AddFault(ranchertest.Fault{Method: "GET", PathContains: "/v2-beta/projects", Status: 500, Times: 1})
	rep := Run(context.Background(), w.cfg)
	if c := find(t, rep, "rancher: environments", "500"); c.Result != Fail || !strings.Contains(c.Fix, "Rancher server") {
		t.Errorf("%+v", c)
	}

	// The services fail: the registries are checked all the same.
	w.rancher.AddFault(ranchertest.Fault{PathContains: "/services", Status: 500})
	rep = Run(context.Background(), w.cfg)
	label := "env " + a + " (alpha)"
	if c := find(t, rep, label+": read services", "the images in use are not checked"); c.Result != Fail {
		t.Errorf("%+v", c)
	}
	find(t, rep, label+": registry 1sp1", "the us-east-1 token opens it")
	w.rancher.ClearFaults()

	// A wrong secret.
	w.cfg.Updater.Rancher.SecretKey = "not-the-secret"
	rep = Run(context.Background(), w.cfg)
	if c := find(t, rep, "rancher: reachable", "401"); c.Result != Fail || !strings.Contains(c.Fix, "check the Rancher access key and the Rancher secret key") {
		t.Errorf("%+v", c)
	}
}

func TestOutputScrubsSecrets(t *testing.T) {
	rep := &Report{Checks: []Check{{Check: "x", Result: Fail, Detail: "the secret is doctor-aws-secret-0a1b2c3d", Fix: "not doctor-env-secret-6c5b4a"}}}
	s := redact.NewScrubber()
	s.Add(awsSecret, envKeySecret)
	var text, js bytes.Buffer
	if err := rep.WriteText(&text, s); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text.String(), js.String()} {
		if strings.Contains(out, awsSecret) || strings.Contains(out, envKeySecret) || !strings.Contains(out, redact.Marker) {
			t.Errorf("not scrubbed: %s", out)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc["status"] != "fail" || doc["exit"] != 1.0 {
		t.Errorf("%v %v", err, doc)
	}
	if !strings.Contains(text.String(), "FAIL   x     the secret is [REDACTED] -- fix: not [REDACTED]") {
		t.Errorf("text:\n%s", text.String())
	}
	cfg := ConfigReport(fmt.Errorf("CATTLE_URL is not set"))
	if cfg.Exit() != ExitConfig || len(cfg.Checks) != 1 {
		t.Errorf("%+v", cfg)
	}
}

// TestFiftyEnvironments measures a run over 50 environments (an Account API key, RANCHER_ENVIRONMENTS=all), each
// with 20 ECR registries over 3 regions, 20 other registries and 10 services, with 5 ms of latency on every
// Rancher and ECR request, as `make bench` has it.
func TestFiftyEnvironments(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement")
	}
	w := newWorld(t, ranchertest.Options{Latency: 5 * time.Millisecond, MaxRecords: -1}, ecrtest.Options{Latency: 5 * time.Millisecond})
	regions := []string{"us-east-1", "eu-west-1", "ap-southeast-2"}
	for i := 0; i < 50; i++ {
		e := w.rancher.AddEnvironment(fmt.Sprintf("env-%02d", i))
		for j := 0; j < 20; j++ {
			acct := fmt.Sprintf("%012d", 100000000000+j)
			reg := w.rancher.AddRegistry(e, ecrHost(acct, regions[j%3]), "")
			w.rancher.AddCredential(e, reg, "AWS", "stale", "")
			w.rancher.AddRegistry(e, fmt.Sprintf("registry-%d.example.com", j), "")
		}
		for j := 0; j < 10; j++ {
			acct := fmt.Sprintf("%012d", 100000000000+j)
			w.rancher.AddService(e, fmt.Sprint("svc", j), ecrHost(acct, regions[j%3])+"/app:1", "busybox")
		}
	}
	w.rancher.ResetRequests()
	start := time.Now()
	rep := Run(context.Background(), w.cfg)
	d := time.Since(start)
	if rep.Exit() != ExitOK {
		var b bytes.Buffer
		_ = rep.WriteText(&b, nil)
		t.Fatalf("exit %d:\n%s", rep.Exit(), b.String())
	}
	if d > 30*time.Second {
		t.Errorf("50 environments took %s", d)
	}
	// 3 to connect and list the environments, then 4 per environment: schemas, registries, credentials, services.
	if n := w.rancher.RequestCount(); n != 3+50*4 {
		t.Errorf("%d Rancher requests, want %d", n, 3+50*4)
	}
	if n := w.ecr.Calls(); n != 3 {
		t.Errorf("%d token fetches", n)
	}
	if n := len(w.ecr.RegistryRequests()); n != 20 {
		t.Errorf("%d registry checks, want one per host (20)", n)
	}
	var table bytes.Buffer
	if err := rep.WriteText(&table, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(table.String(), "\n")
	if lines > 4*50+12 {
		t.Errorf("the table has %d lines:\n%s", lines, table.String())
	}
	t.Logf("table of %d lines, first and last:\n%s...\n%s", lines, strings.Join(strings.SplitN(table.String(), "\n", 12)[:11], "\n"),
		table.String()[strings.LastIndex(strings.TrimSuffix(table.String(), "\n\n"), "\n\n"):])
	t.Logf("50 environments: %d checks in %s (%d Rancher requests, %d token fetches, %d GET /v2/)",
		len(rep.Checks), d.Round(time.Millisecond), w.rancher.RequestCount(), w.ecr.Calls(), len(w.ecr.RegistryRequests()))
}

func TestAutoCreate(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.rancher.AddEnvironment("alpha")
	w.rancher.AddService(a, "web", ecrHost(account, "us-east-1")+"/web:1")
	w.cfg.Updater.Rules.AutoCreate = true
	rep := Run(context.Background(), w.cfg)
	if rep.Exit() != ExitOK {
		t.Fatalf("exit %d", rep.Exit())
	}
	find(t, rep, "env "+a+" (alpha): auto-creation", "the next pass creates the registry "+ecrHost(account, "us-east-1"))
	if c := find(t, rep, "env "+a+" (alpha): ECR images", "the next pass creates it (auto-creation or registry discovery)"); c.Result != Warn {
		t.Errorf("%+v", c)
	}
	if n := w.rancher.RequestCount(); n == 0 {
		t.Fatal("no request")
	}
	for _, r := range w.rancher.Requests() {
		if r.Method != "GET" {
			t.Errorf("wrote: %s %s", r.Method, r.Path)
		}
	}
}

// TestDiscoverRegistries: with DISCOVER_REGISTRIES, an image whose registry nobody added is a warning (the next
// pass creates it), not a failure; without the option it is a failure. Nothing is written either way.
func TestDiscoverRegistries(t *testing.T) {
	for _, discover := range []bool{true, false} {
		w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
		a := w.rancher.AddEnvironment("alpha")
		host := ecrHost(account, "eu-west-1")
		w.rancher.AddService(a, "web", host+"/web:1")
		w.cfg.Updater.Rules.Discover = discover
		rep := Run(context.Background(), w.cfg)
		images := find(t, rep, "env "+a+" (alpha): ECR images", "")
		if !discover {
			if rep.Exit() != ExitFailed || images.Result != Fail {
				t.Errorf("without discovery: exit %d, %+v", rep.Exit(), images)
			}
			continue
		}
		if rep.Exit() != ExitOK || images.Result != Warn {
			t.Errorf("with discovery: exit %d, %+v", rep.Exit(), images)
		}
		find(t, rep, "env "+a+" (alpha): registry discovery", "the next pass creates the registry "+host+" and its credential, for the image of service web (")
		for _, r := range w.rancher.Requests() {
			if r.Method != "GET" {
				t.Errorf("wrote: %s %s", r.Method, r.Path)
			}
		}
	}
}

func TestStopped(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.rancher.AddEnvironment("alpha")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Run(ctx, w.cfg)
	if c := find(t, rep, "doctor: time", "stopped before the checks finished"); c.Result != Fail || rep.Exit() != ExitFailed {
		t.Errorf("%+v", c)
	}
}
