package main

import (
	"bytes"
	"encoding/json"
	stdlog "log"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
)

// runSplit runs the program in a child process and returns its exit status, stdout and stderr apart.
func runSplit(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	cmd := command(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), stdout.String(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// jsonLines parses every line of a LOG_FORMAT=json stderr, failing the test for each that is not a JSON object
// with a level, a msg and a time.
func jsonLines(t *testing.T, name, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] == nil || m["msg"] == nil || m["time"] == nil {
			t.Errorf("%s: a stderr line is not a JSON log line: %q", name, line)
			continue
		}
		out = append(out, m)
	}
	return out
}

// TestEveryLogLineIsJSON runs once and doctor with LOG_FORMAT=json on a host without static keys whose instance
// metadata service answers 403 to the IMDSv2 token request, so that the AWS SDK falls back to IMDSv1 and says
// so: every line on stderr is a JSON log line, the SDK's among them at debug level, and at info level it is not
// shown at all. go-rancher's debug switch is on too.
func TestEveryLogLineIsJSON(t *testing.T) {
	w := newDoctorWorld(t)
	imds := ecrtest.NewIMDS(ecrtest.IMDSOptions{AccessKeyID: awsKeyID, SecretKey: awsSecret, TokenStatus: http.StatusForbidden})
	t.Cleanup(imds.Close)
	env := w.vars(t)
	delete(env, "AWS_ACCESS_KEY_ID")
	delete(env, "AWS_SECRET_ACCESS_KEY")
	delete(env, "AWS_EC2_METADATA_DISABLED")
	env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.URL
	env["LOG_FORMAT"], env["LOG_LEVEL"], env["RANCHER_CLIENT_DEBUG"] = "json", "debug", "true"

	var all []string
	for _, args := range [][]string{{"once"}, {"doctor"}} {
		code, stdout, stderr := runSplit(t, env, args...)
		all = append(all, stderr)
		if os.Getenv("PEEK") != "" {
			t.Logf("%s: exit %d, stderr:\n%s", args[0], code, stderr)
		}
		if code != 0 {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", args[0], code, stdout, stderr)
		}
		fallback := 0
		for _, m := range jsonLines(t, args[0], stderr) {
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "falling back to IMDSv1: ") {
				fallback++
				if m["level"] != "debug" || m["library"] != "aws-sdk" {
					t.Errorf("%s: the SDK's IMDSv1 line: %v", args[0], m)
				}
			}
		}
		if fallback != 1 {
			t.Errorf("%s: %d lines of the SDK's IMDSv1 fallback, want 1:\n%s", args[0], fallback, stderr)
		}
		if args[0] == "doctor" && !strings.Contains(stdout, "instance role (EC2 instance metadata)") {
			t.Errorf("doctor did not use the instance role:\n%s", stdout)
		}
	}
	if !strings.Contains(strings.Join(imds.Requests(), " "), "PUT /latest/api/token") {
		t.Errorf("IMDS was asked %q: the fallback was not exercised", imds.Requests())
	}
	if strings.Contains(strings.Join(all, ""), awsSecret) {
		t.Error("the instance role's secret key is in the output")
	}

	env["LOG_LEVEL"] = "info"
	code, _, stderr := runSplit(t, env, "once")
	if code != 0 || strings.Contains(stderr, "IMDSv1") {
		t.Errorf("at info level: exit %d, stderr:\n%s", code, stderr)
	}
	jsonLines(t, "once at info level", stderr)
}

// TestStandardLogGoesThroughTheLogger: after the configuration is loaded, what libraries print through package
// log (net/http's client, for one) is a log line in the chosen format, scrubbed.
func TestStandardLogGoesThroughTheLogger(t *testing.T) {
	defer stdlog.SetOutput(os.Stderr)
	defer stdlog.SetFlags(stdlog.LstdFlags)
	s, stderr, err := loadWith(t, with(map[string]string{"LOG_FORMAT": "json", "CATTLE_SECRET_KEY": "std-log-secret-value"}))
	if err != nil || s == nil {
		t.Fatalf("load: %v\n%s", err, stderr)
	}
	var buf bytes.Buffer
	s.log.Out = &buf
	stdlog.Printf("net/http: Unsolicited response received on idle HTTP channel starting with %q", "std-log-secret-value")
	out := buf.String()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &m); err != nil || m["level"] != "warning" || m["library"] != "log" ||
		!strings.HasPrefix(m["msg"].(string), "net/http: Unsolicited response") {
		t.Fatalf("package log printed %q (%v)", out, err)
	}
	if strings.Contains(out, "std-log-secret-value") {
		t.Error("not scrubbed")
	}
}
