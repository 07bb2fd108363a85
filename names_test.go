package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/internal/standin"
)

// noNeutralWords fails the test when out refers to a setting by its neutral word (setting.ID.String): the daemon
// names every setting the packages refer to by its variable.
func noNeutralWords(t *testing.T, what, out string) {
	t.Helper()
	for id := setting.ID(1); id < setting.NumIDs; id++ {
		if strings.Contains(out, id.String()) {
			t.Errorf("%s says %q, not %s:\n%s", what, id.String(), name(id), out)
		}
	}
}

// jsonText checks that every line of a LOG_FORMAT=json stderr is a JSON log line (jsonLines) and returns them,
// one line each with its message and fields.
func jsonText(t *testing.T, name, stderr string) string {
	t.Helper()
	var all []string
	for _, l := range jsonLines(t, name, stderr) {
		all = append(all, fmt.Sprint(l))
	}
	return strings.Join(all, "\n")
}

// TestSettingsNamedInOutput: what the packages write of a setting (errors, log lines, doctor's report, /healthz)
// names it by its variable when the daemon writes it, in text and in JSON: an Environment API key asked for other
// environments (updater: a *setting.Error, exit 2), a registry AWS_ECR_REGISTRY_IDS leaves out (plan's reason in
// doctor's report, updater's warning in the log), no region in use (doctor), the home registry AUTO_CREATE cannot
// create (plan's failure, in the log and on /healthz).
func TestSettingsNamedInOutput(t *testing.T) {
	w := newDoctorWorld(t)
	const other = "210987654321"
	w.rancher.AddRegistry(w.env, other+".dkr.ecr.us-east-1.amazonaws.com", "active")
	w.rancher.AddService(w.env, "other", other+".dkr.ecr.us-east-1.amazonaws.com/other:1")

	env := w.env0()
	env["CATTLE_URL"], env["RANCHER_ENVIRONMENTS"] = w.rancher.URL, "Production"
	code, out := daemon(t, env, "once")
	want := `ecr-updater: RANCHER_ENVIRONMENTS: names "Production", but CATTLE_ACCESS_KEY is an Environment API key (kind "project"), ` +
		"which sees only its own environment; use an Account API key to reach other environments"
	if code != 2 || !strings.Contains(out, want) {
		t.Errorf("Environment API key asked for other environments: exit %d, want 2 and %q:\n%s", code, want, out)
	}
	noNeutralWords(t, "the exit message", out)

	env = w.vars(t)
	env["AWS_ECR_REGISTRY_IDS"] = "999999999999" // no registry in scope
	for _, format := range []string{"text", "json"} {
		env["LOG_FORMAT"] = format
		_, _, out := runSplit(t, env, "once")
		if format == "json" {
			out = jsonText(t, "once", out)
		}
		if !strings.Contains(out, "or set AUTO_CREATE=true; AWS_ECR_REGISTRY_IDS and ECR_REGIONS narrow the scope") {
			t.Errorf("LOG_FORMAT=%s: no warning naming AUTO_CREATE, AWS_ECR_REGISTRY_IDS and ECR_REGIONS:\n%s", format, out)
		}
		noNeutralWords(t, "once, LOG_FORMAT="+format, out)
	}
	env["AWS_ECR_REGISTRY_IDS"] = account
	for _, args := range [][]string{{"doctor"}, {"doctor", "--output", "json"}} {
		_, out := daemon(t, env, args...)
		for _, want := range []string{"account " + other + " is not in AWS_ECR_REGISTRY_IDS",
			"add its account to AWS_ECR_REGISTRY_IDS and its region to ECR_REGIONS"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", strings.Join(args, " "), want, out)
			}
		}
		noNeutralWords(t, strings.Join(args, " "), out)
	}
	empty := &doctorWorld{e2e: newE2E(t)}
	_, out = daemon(t, empty.vars(t), "doctor")
	if !strings.Contains(out, "or set AUTO_CREATE=true with AWS_REGION") {
		t.Errorf("doctor without ECR registries: no fix naming AUTO_CREATE and AWS_REGION:\n%s", out)
	}
	noNeutralWords(t, "doctor without ECR registries", out)

	// AUTO_CREATE cannot create the home registry: ECR sends no proxyEndpoint in AWS_REGION.
	w.ecr.AddFault(ecrtest.Fault{Region: "us-east-1", Action: "GetAuthorizationToken", OmitProxyEndpoint: true})
	env = w.env0()
	env["AUTO_CREATE"], env["LOG_FORMAT"] = "true", "json"
	port := freePort(t)
	env["LISTEN_PORT"] = fmt.Sprint(port)
	cmd := command(t, env, "run")
	var log standin.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var health string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(health, "problems"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no problem on /healthz: %s\n%s", health, log.String())
		}
		_, health = fetch(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	}
	if !strings.Contains(health, `"server_address":"(AUTO_CREATE in us-east-1)"`) {
		t.Errorf("/healthz: %s", health)
	}
	noNeutralWords(t, "/healthz", health)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	out = jsonText(t, "run", log.String())
	if !strings.Contains(out, "server_address:(AUTO_CREATE in us-east-1)") {
		t.Errorf("no log line of the home registry naming AUTO_CREATE:\n%s", out)
	}
	noNeutralWords(t, "run, LOG_FORMAT=json", out)
}
