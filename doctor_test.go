package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/doctor"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

// doctorWorld is the e2e world plus what doctor checks: services, and registry hosts reached through the ECR
// stand-in's proxy with its CA trusted (HTTPS_PROXY and AWS_CA_BUNDLE, as an operator's network would offer them).
type doctorWorld struct {
	*e2e
	reg string // the us-east-1 registry
}

func newDoctorWorld(t *testing.T) *doctorWorld {
	t.Helper()
	w := &doctorWorld{e2e: newE2E(t)}
	w.reg = w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	w.rancher.AddCredential(w.env, w.reg, "AWS", "stale", "active")
	w.rancher.AddRegistry(w.env, "index.docker.io", "active")
	w.rancher.AddService(w.env, "web", host("us-east-1")+"/web:1", "busybox:1.36", host("us-east-1")+"/logger@sha256:"+strings.Repeat("0", 64))
	w.rancher.AddService(w.env, "lb", "rancher/lb-service-haproxy:v0.9.1")
	return w
}

func (w *doctorWorld) vars(t *testing.T) map[string]string {
	t.Helper()
	bundle := filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(bundle, w.ecr.RegistryCAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := w.env0()
	env["AWS_ENDPOINT_URL_STS"] = w.ecr.URL
	env["HTTPS_PROXY"] = w.ecr.RegistryProxyURL()
	env["AWS_CA_BUNDLE"] = bundle
	return env
}

// line returns the report line whose check matches check, failing the test if there is none.
func line(t *testing.T, out, result, check string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(result) + ` +` + check + `.*$`)
	l := re.FindString(out)
	if l == "" {
		t.Fatalf("no %s line for %q in:\n%s", result, check, out)
	}
	return l
}

// TestDoctorHealthyWorld: every key from a file (the way the README recommends), and all is well.
func TestDoctorHealthyWorld(t *testing.T) {
	w := newDoctorWorld(t)
	vars := w.vars(t)
	keysToFiles(t, vars, "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
	code, out := daemon(t, vars, "doctor")
	t.Logf("exit %d:\n%s", code, out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range []struct{ result, check, detail string }{
		{"ok", "configuration", "valid, as the daemon loads it: CATTLE_URL " + w.rancher.URL + "/v1"},
		{"ok", "rancher: access key", "file " + vars["CATTLE_ACCESS_KEY_FILE"] + " (CATTLE_ACCESS_KEY_FILE)"},
		{"ok", "rancher: secret key", "file " + vars["CATTLE_SECRET_KEY_FILE"] + " (CATTLE_SECRET_KEY_FILE)"},
		{"ok", "aws: access key id", "file " + vars["AWS_ACCESS_KEY_ID_FILE"] + " (AWS_ACCESS_KEY_ID_FILE)"},
		{"ok", "aws: secret key", "file " + vars["AWS_SECRET_ACCESS_KEY_FILE"] + " (AWS_SECRET_ACCESS_KEY_FILE)"},
		{"ok", "rancher: reachable", w.rancher.URL + "/v2-beta answered"},
		{"ok", "rancher: API key", "Environment API key, the key's own environment"},
		{"ok", `env 1a5: write access`, "may create registries and create and update their credentials"},
		{"ok", "aws: credentials", "the key pair of the configuration"},
		{"ok", "aws: caller identity", "arn:aws:iam::" + account + ":user/ecrtest (account " + account + ")"},
		{"ok", "aws: token us-east-1", "valid until"},
		{"ok", `env 1a5: registry 1sp1 +` + regexp.QuoteMeta(host("us-east-1")), "the us-east-1 token opens it (GET /v2/ 200)"},
		{"ok", `env 1a5: ECR images +` + regexp.QuoteMeta(host("us-east-1")), "registry 1sp1 serves it; used by web (1s1), web (1s1) sidekick web-sidekick-2"},
	} {
		if l := line(t, out, c.result, c.check); !strings.Contains(l, c.detail) {
			t.Errorf("%s: %q", c.check, l)
		}
	}
	if regexp.MustCompile(`(?m)^(warn|FAIL) `).MatchString(out) || !strings.Contains(out, "0 warn, 0 FAIL") || !strings.Contains(out, "exit 0 (all is well)") {
		t.Errorf("not all well:\n%s", out)
	}
	if !regexp.MustCompile(`(?s)^RESULT.*\nok +configuration .*\nok +rancher: access key .*\nok +rancher: secret key .*\nok +aws: access key id .*\nok +aws: secret key .*\nok +rancher: reachable`).MatchString(out) {
		t.Errorf("the keys' lines do not follow the configuration's:\n%s", out)
	}
	// No writes, one GET /v2/.
	for _, r := range w.rancher.Requests() {
		if r.Method != "GET" {
			t.Errorf("doctor wrote to Rancher: %s %s", r.Method, r.Path)
		}
	}
	if n := len(w.ecr.RegistryRequests()); n != 1 {
		t.Errorf("%d registry requests", n)
	}
}

// TestDoctorWarnsAboutKeysInVariables: the AWS secret key, the Rancher secret key of an Environment API key and a
// proxy password in plain variables are each a warning with the fix (and no failure); the ids are not; without AWS
// keys, the line says what the SDK's chain found.
func TestDoctorWarnsAboutKeysInVariables(t *testing.T) {
	w := newDoctorWorld(t)
	vars := w.vars(t)
	const proxyPass = "doctor-proxy-pass-31"
	vars["HTTPS_PROXY"] = strings.Replace(vars["HTTPS_PROXY"], "http://", "http://ops:"+proxyPass+"@", 1)
	code, out := daemon(t, vars, "doctor")
	t.Logf("exit %d:\n%s", code, out)
	if code != 0 || !strings.Contains(out, "3 warn, 0 FAIL") {
		t.Fatalf("exit %d, want 0 with 3 warnings", code)
	}
	for _, c := range []struct{ result, check, detail string }{
		{"warn", "aws: secret key", "variable AWS_SECRET_ACCESS_KEY: visible to every member of the environment who can view this service " +
			"-- fix: use AWS_SECRET_ACCESS_KEY_FILE with a Rancher secret (README: Keeping keys out of sight), or give the hosts an instance role: no key at all"},
		{"warn", "rancher: secret key", "variable CATTLE_SECRET_KEY: visible to every member of the environment who can view this service " +
			"-- fix: use CATTLE_SECRET_KEY_FILE with a Rancher secret"},
		{"warn", "proxy: HTTPS_PROXY", "variable HTTPS_PROXY: visible to every member of the environment who can view this service -- fix: use HTTPS_PROXY_FILE"},
		{"ok", "rancher: access key", "variable CATTLE_ACCESS_KEY"},
		{"ok", "aws: access key id", "variable AWS_ACCESS_KEY_ID"},
		{"ok", "aws: credentials", "from environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"},
	} {
		if l := line(t, out, c.result, c.check); !strings.Contains(l, c.detail) {
			t.Errorf("%s: %q", c.check, l)
		}
	}
	if strings.Contains(out, proxyPass) {
		t.Error("the proxy password is in the report")
	}

	// No AWS keys at all: the SDK's chain (here a shared credentials file) has the last word.
	creds := writeFile(t, t.TempDir(), "credentials", "[default]\naws_access_key_id = "+awsKeyID+"\naws_secret_access_key = "+awsSecret+"\n")
	vars = w.vars(t)
	delete(vars, "AWS_ACCESS_KEY_ID")
	delete(vars, "AWS_SECRET_ACCESS_KEY")
	vars["AWS_SHARED_CREDENTIALS_FILE"], vars["AWS_CONFIG_FILE"] = creds, filepath.Join(t.TempDir(), "none")
	_, out = daemon(t, vars, "doctor")
	if l := line(t, out, "ok", "aws: secret key"); !strings.Contains(l, "none in the configuration; the AWS SDK's chain found: shared profile") {
		t.Errorf("without keys: %q\n%s", l, out)
	}
	if strings.Contains(out, "aws: access key id") {
		t.Errorf("a line for an access key id that was not given:\n%s", out)
	}
}

func TestDoctorFailures(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(w *doctorWorld, vars map[string]string)
		result string
		check  string
		detail []string
	}{
		{"registry never added for an image in use", func(w *doctorWorld, _ map[string]string) {
			w.rancher.AddService(w.env, "api", host("eu-west-1")+"/api:2")
		}, "FAIL", `env 1a5: ECR images +` + regexp.QuoteMeta(host("eu-west-1")),
			[]string{"no registry for this host in the environment", "used by api (1s3)", "fix: add the registry " + host("eu-west-1")}},
		{"registry with https:// in front", func(w *doctorWorld, _ map[string]string) {
			w.rancher.AddService(w.env, "api", host("eu-west-1")+"/api:2")
			w.rancher.AddRegistry(w.env, "https://"+host("eu-west-1"), "active")
		}, "FAIL", `env 1a5: registry 1sp3 https://`,
			[]string{"Rancher never matches an image to the address", "fix: recreate the registry with the bare host " + host("eu-west-1")}},
		{"wrong region", func(w *doctorWorld, _ map[string]string) {
			w.rancher.AddService(w.env, "api", host("eu-west-1")+"/api:2")
			w.rancher.AddRegistry(w.env, host("eu-central-1"), "active")
		}, "FAIL", `env 1a5: ECR images +` + regexp.QuoteMeta(host("eu-west-1")),
			[]string{"no registry for this host", "used by api (1s3)", "is of the same account in us-east-1: a registry, and its token, serve one region only"}},
		{"token denied for a region", func(w *doctorWorld, _ map[string]string) {
			w.rancher.AddRegistry(w.env, host("eu-west-1"), "active")
			w.ecr.AddFault(ecrtest.Fault{Region: "eu-west-1", Code: "AccessDeniedException"})
		}, "FAIL", "aws: token eu-west-1",
			[]string{"AccessDeniedException", "ecr:GetAuthorizationToken", "in eu-west-1", "fix: allow ecr:GetAuthorizationToken on resource * in eu-west-1"}},
		{"/v2/ answers 401", func(w *doctorWorld, _ map[string]string) {
			w.ecr.DenyRegistry(account, "us-east-1")
		}, "FAIL", `env 1a5: registry 1sp1`,
			[]string{"the us-east-1 token does not open it: GET /v2/ answered 401 Unauthorized", "fix: the caller identity may not use this registry: let it pull from account " + account + " in us-east-1"}},
		{"key that cannot write registries", func(w *doctorWorld, vars map[string]string) {
			vars["CATTLE_URL"], vars["CATTLE_ACCESS_KEY"], vars["CATTLE_SECRET_KEY"] = w.rancher.URL+"/v2-beta", acctAccess, acctSecret
		}, "FAIL", `env \(the key's environment\): write access`,
			[]string{"registry resources are read-only for this key and URL", "fix: CATTLE_ACCESS_KEY is an Account API key and CATTLE_URL names no environment"}},
		{"Rancher unreachable", func(w *doctorWorld, _ map[string]string) {
			w.rancher.SetDown(true)
		}, "FAIL", "rancher: reachable",
			[]string{"connection refused", "fix: check CATTLE_URL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newDoctorWorld(t)
			vars := w.vars(t)
			c.setup(w, vars)
			code, out := daemon(t, vars, "doctor")
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			t.Logf("exit %d:\n%s", code, out)
			l := line(t, out, c.result, c.check)
			for _, d := range c.detail {
				if !strings.Contains(l, d) {
					t.Errorf("line %q lacks %q", l, d)
				}
			}
			if !strings.Contains(out, "exit 1 (something would make a pull fail)") {
				t.Errorf("summary:\n%s", out)
			}
		})
	}
}

func TestDoctorConfigurationError(t *testing.T) {
	w := newDoctorWorld(t)
	vars := w.vars(t)
	vars["ECR_REGIONS"] = "mars-1"
	code, out := daemon(t, vars, "doctor")
	if code != 2 || !strings.Contains(line(t, out, "FAIL", "configuration"), `ECR_REGIONS: "mars-1" is not an AWS region name`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := w.rancher.RequestCount(); n != 0 {
		t.Errorf("%d Rancher requests with a bad configuration", n)
	}
	code, out = daemon(t, w.vars(t), "doctor", "--output", "yaml")
	if code != 2 || !strings.Contains(out, "--output") {
		t.Fatalf("bad --output: exit %d:\n%s", code, out)
	}
}

func TestDoctorJSON(t *testing.T) {
	w := newDoctorWorld(t)
	w.rancher.AddService(w.env, "api", host("eu-west-1")+"/api:2")
	cmd := command(t, w.vars(t), "doctor", "--output", "json")
	stdout, err := cmd.Output()
	if cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit %d (%v):\n%s", cmd.ProcessState.ExitCode(), err, stdout)
	}
	var rep struct {
		Status string `json:"status"`
		Exit   int    `json:"exit"`
		Counts struct{ OK, Warn, Fail int }
		Checks []struct {
			Check, Result, Detail, Fix, Env, Registry, Host, Region string
			Services                                                []string
		}
	}
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if rep.Status != "fail" || rep.Exit != 1 || rep.Counts.Fail != 1 || rep.Counts.OK < 8 || len(rep.Checks) != rep.Counts.OK+rep.Counts.Warn+rep.Counts.Fail {
		t.Fatalf("%+v", rep)
	}
	found := false
	for _, c := range rep.Checks {
		if c.Result == "FAIL" {
			found = c.Host == host("eu-west-1") && c.Env == w.env && c.Region == "eu-west-1" && len(c.Services) == 1 &&
				c.Services[0] == "api (1s3)" && strings.HasPrefix(c.Fix, "add the registry")
		}
	}
	if !found {
		t.Errorf("the failure is not described: %s", stdout)
	}
}

func TestDoctorPrintsNoSecret(t *testing.T) {
	w := newDoctorWorld(t)
	w.rancher.AddService(w.env, "api", host("eu-west-1")+"/api:2")
	w.rancher.AddRegistry(w.env, "https://"+host("eu-west-1"), "active")
	w.ecr.DenyRegistry(account, "eu-west-1")
	vars := w.vars(t)
	vars["LOG_LEVEL"], vars["RANCHER_CLIENT_DEBUG"] = "debug", "true"
	for _, format := range []string{"text", "json"} {
		code, out := daemon(t, vars, "doctor", "--output", format)
		t.Logf("%s", out)
		if code != 1 || len(out) < 500 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		secrets := []string{envSecret, awsSecret, "stale"}
		secrets = append(secrets, w.ecr.Passwords()...)
		for _, is := range w.ecr.Issued() {
			secrets = append(secrets, is.Token)
		}
		if len(secrets) < 5 {
			t.Fatalf("the run issued no token: %v", secrets)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output holds a secret (%.8s...):\n%s", format, s, out)
			}
		}
	}
}

// TestDoctorSample is the world of the README's sample: an Account API key serving two environments, one healthy,
// one with three problems; the keys in files.
func TestDoctorSample(t *testing.T) {
	w := newDoctorWorld(t)
	staging := w.rancher.AddEnvironment("Staging")
	w.rancher.AddRegistry(staging, "https://"+host("eu-west-1")+"/", "active")
	w.rancher.AddService(staging, "api", host("eu-west-1")+"/api:2.4")
	w.rancher.AddService(staging, "worker", host("ap-southeast-2")+"/worker:7", host("us-east-1")+"/logger:1")
	w.rancher.AddRegistry(staging, "210987654321.dkr.ecr.us-east-1.amazonaws.com", "active")
	w.ecr.DenyRegistry("210987654321", "us-east-1")
	vars := w.vars(t)
	vars["CATTLE_URL"], vars["CATTLE_ACCESS_KEY"], vars["CATTLE_SECRET_KEY"] = w.rancher.URL, acctAccess, acctSecret
	vars["RANCHER_ENVIRONMENTS"] = "all"
	keysToFiles(t, vars, "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
	code, out := daemon(t, vars, "doctor")
	t.Logf("exit %d:\n%s", code, out)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	line(t, out, "FAIL", `env 1a6 \(Staging\): registry 1sp3`)
	line(t, out, "FAIL", `env 1a6 \(Staging\): registry 1sp4`)
	line(t, out, "FAIL", `env 1a6 \(Staging\): ECR images +`+regexp.QuoteMeta(host("ap-southeast-2")))
	line(t, out, "FAIL", `env 1a6 \(Staging\): ECR images +`+regexp.QuoteMeta(host("eu-west-1")))
	line(t, out, "FAIL", `env 1a6 \(Staging\): ECR images +`+regexp.QuoteMeta(host("us-east-1")))
	line(t, out, "ok", `env 1a5 \(Default\): ECR images +`+regexp.QuoteMeta(host("us-east-1")))
}

// TestReadmeDoctorTable: the README's table of doctor's checks lists the kinds of doctor.Kinds, which
// `doctor --help` lists and which every line doctor writes is of, in order, each row with exactly a kind's names.
func TestReadmeDoctorTable(t *testing.T) {
	var rows [][]string
	for _, l := range strings.Split(readmeSection(t, "Troubleshooting with doctor"), "\n") {
		first, _, _ := strings.Cut(strings.TrimPrefix(l, "| "), " | ")
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		var names []string
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
		rows = append(rows, names)
	}
	kinds := doctor.Kinds()
	for _, k := range kinds {
		for i := range k.Names {
			k.Names[i] = names().Replace(k.Names[i])
		}
	}
	if len(rows) != len(kinds) {
		t.Errorf("the README's doctor table has %d rows, doctor %d kinds of check", len(rows), len(kinds))
	}
	for i := range min(len(rows), len(kinds)) {
		if !slices.Equal(rows[i], kinds[i].Names) {
			t.Errorf("README row %d names %q; doctor's kind %d %q", i+1, rows[i], i+1, kinds[i].Names)
		}
	}
	var help bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "doctor", "--help"}, &help, io.Discard); code != 0 {
		t.Fatalf("doctor --help: exit %d", code)
	}
	for _, l := range strings.Split(names().Replace(doctor.Help()), "\n") {
		if !strings.Contains(help.String(), l+"\n") {
			t.Errorf("doctor --help lacks %q:\n%s", l, help.String())
		}
	}
}
