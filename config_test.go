package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/internal/redact"
)

// settingVars are every variable the daemon reads; each test starts with all of them unset.
var settingVars = []string{"CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ROLE_ARN", "AWS_ECR_REGISTRY_IDS", "ECR_REGIONS", "AUTO_CREATE", "UPDATE_INTERVAL", "DRY_RUN", "EVENTS", "DISCOVER_REGISTRIES", "LOG_LEVEL",
	"LOG_FORMAT", "LISTEN_PORT", "RANCHER_TIMEOUT", "ECR_TIMEOUT", "RANCHER_CA_CERT", "RANCHER_INSECURE_SKIP_VERIFY",
	"RANCHER_ENVIRONMENTS", "RANCHER_CONCURRENCY", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CATTLE_ACCESS_KEY_FILE", "CATTLE_SECRET_KEY_FILE", "AWS_ACCESS_KEY_ID_FILE",
	"AWS_SECRET_ACCESS_KEY_FILE", "AWS_SESSION_TOKEN_FILE", "HTTPS_PROXY_FILE", "HTTP_PROXY_FILE",
	"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"}

// notInHelp are the variables of settingVars that the AWS SDK (or net/http) reads and --help names only in its
// description.
var notInHelp = map[string]bool{"AWS_WEB_IDENTITY_TOKEN_FILE": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "HTTPS_PROXY": true, "https_proxy": true, "HTTP_PROXY": true,
	"http_proxy": true}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range settingVars {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// TestBadConfiguration runs `once` with one bad setting at a time: exit status 2, and the message names the
// variable. No network is touched: every case fails before the first request.
func TestBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	idFile, secretFile := filepath.Join(dir, "id"), filepath.Join(dir, "secret")
	for file, content := range map[string]string{idFile: "AKIAEXAMPLE", secretFile: "sk-secret-value\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := map[string]string{"CATTLE_URL": "http://127.0.0.1:1/v1", "CATTLE_ACCESS_KEY": "ak", "CATTLE_SECRET_KEY": "sk-secret-value"}
	long := strings.Repeat("x", 256)
	cases := []struct {
		name, variable string
		env            map[string]string
		want           string // more of the message, when naming the variable is not enough
	}{
		{"missing CATTLE_URL", "CATTLE_URL", map[string]string{"CATTLE_URL": ""}, "CATTLE_URL is not set"},
		{"CATTLE_URL without scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "rancher:8080"}, "did you mean http://rancher:8080"},
		{"CATTLE_URL host and path without scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "rancher.example.com:8080/v1"},
			"did you mean http://rancher.example.com:8080/v1"},
		{"CATTLE_URL IP without scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "10.0.0.1:8080/v2-beta"}, "did you mean http://10.0.0.1:8080/v2-beta"},
		{"CATTLE_URL other scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "ftp://rancher/v1"}, "http or https"},
		{"CATTLE_URL with a broken scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "http:/rancher/v1"}, "no host"},
		{"CATTLE_URL with keys", "CATTLE_URL", map[string]string{"CATTLE_URL": "http://ak:sk-in-url@rancher:8080/v1"}, ""},
		{"CATTLE_URL other path", "CATTLE_URL", map[string]string{"CATTLE_URL": "http://rancher:8080/v3"}, ""},
		{"missing access key", "CATTLE_ACCESS_KEY", map[string]string{"CATTLE_ACCESS_KEY": ""}, "CATTLE_ACCESS_KEY is not set"},
		{"missing secret key", "CATTLE_SECRET_KEY", map[string]string{"CATTLE_SECRET_KEY": ""}, "CATTLE_SECRET_KEY is not set"},
		{"access key without secret key", "AWS_SECRET_ACCESS_KEY", map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "AWS_SECRET_ACCESS_KEY is not set"},
		{"secret key without access key", "AWS_ACCESS_KEY_ID", map[string]string{"AWS_SECRET_ACCESS_KEY": "sk-secret-value"}, "AWS_ACCESS_KEY_ID is not set"},
		{"session token alone", "AWS_SESSION_TOKEN", map[string]string{"AWS_SESSION_TOKEN": "sk-secret-value"}, "without AWS_ACCESS_KEY_ID"},
		{"access key file without secret key", "AWS_SECRET_ACCESS_KEY_FILE", map[string]string{"AWS_ACCESS_KEY_ID_FILE": idFile},
			"AWS_SECRET_ACCESS_KEY is not set (nor AWS_SECRET_ACCESS_KEY_FILE), but AWS_ACCESS_KEY_ID_FILE is"},
		{"secret key file without access key", "AWS_ACCESS_KEY_ID_FILE", map[string]string{"AWS_SECRET_ACCESS_KEY_FILE": secretFile},
			"AWS_ACCESS_KEY_ID is not set (nor AWS_ACCESS_KEY_ID_FILE), but AWS_SECRET_ACCESS_KEY_FILE is"},
		{"session token file alone", "AWS_SESSION_TOKEN_FILE", map[string]string{"AWS_SESSION_TOKEN_FILE": secretFile}, "without AWS_ACCESS_KEY_ID"},
		{"bad duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "6x"}, ""},
		{"zero duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "0s"}, ""},
		{"negative duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "-1h"}, ""},
		{"unknown log level", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "verbose"}, ""},
		{"log level with a typo", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "warnings"}, ""},
		{"numeric log level", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "5"}, ""},
		{"unknown log format", "LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}, ""},
		{"short registry id", "AWS_ECR_REGISTRY_IDS", map[string]string{"AWS_ECR_REGISTRY_IDS": "123456789012,12345"}, ""},
		{"letters in registry id", "AWS_ECR_REGISTRY_IDS", map[string]string{"AWS_ECR_REGISTRY_IDS": "12345678901a"}, ""},
		{"bad region list", "ECR_REGIONS", map[string]string{"ECR_REGIONS": "us-east-1,mars"}, ""},
		{"bad region", "AWS_REGION", map[string]string{"AWS_REGION": "useast1"}, ""},
		{"bad bool", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "maybe"}, `AUTO_CREATE: "maybe" is not a boolean`},
		{"bool 2", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "2"}, ""},
		{"bool truee", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "truee"}, ""},
		{"auto create without region", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "true"}, ""},
		{"auto create outside ECR_REGIONS", "ECR_REGIONS", map[string]string{"AUTO_CREATE": "true", "AWS_REGION": "us-east-1", "ECR_REGIONS": "eu-west-1"}, ""},
		{"bad dry run", "DRY_RUN", map[string]string{"DRY_RUN": "2"}, `DRY_RUN: "2" is not a boolean`},
		{"dry run y", "DRY_RUN", map[string]string{"DRY_RUN": "y"}, ""},
		{"bad port", "LISTEN_PORT", map[string]string{"LISTEN_PORT": "http"}, ""},
		{"port out of range", "LISTEN_PORT", map[string]string{"LISTEN_PORT": "70000"}, ""},
		{"negative port", "LISTEN_PORT", map[string]string{"LISTEN_PORT": "-1"}, ""},
		{"bad rancher timeout", "RANCHER_TIMEOUT", map[string]string{"RANCHER_TIMEOUT": "soon"}, ""},
		{"rancher timeout above 10m", "RANCHER_TIMEOUT", map[string]string{"RANCHER_TIMEOUT": "10m1s"}, "longer than 10m"},
		{"rancher timeout of an hour", "RANCHER_TIMEOUT", map[string]string{"RANCHER_TIMEOUT": "1h"}, "longer than 10m"},
		{"rancher timeout below 1s", "RANCHER_TIMEOUT", map[string]string{"RANCHER_TIMEOUT": "999ms"}, "shorter than 1s"},
		{"bad ecr timeout", "ECR_TIMEOUT", map[string]string{"ECR_TIMEOUT": "10"}, ""},
		{"ecr timeout above 10m", "ECR_TIMEOUT", map[string]string{"ECR_TIMEOUT": "11m"}, "longer than 10m"},
		{"ecr timeout below 1s", "ECR_TIMEOUT", map[string]string{"ECR_TIMEOUT": "100ms"}, "shorter than 1s"},
		{"missing CA file", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": filepath.Join(dir, "nope.pem")}, ""},
		{"CA file not PEM", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": notPEM}, ""},
		{"bad insecure flag", "RANCHER_INSECURE_SKIP_VERIFY", map[string]string{"RANCHER_INSECURE_SKIP_VERIFY": "sure"}, `RANCHER_INSECURE_SKIP_VERIFY: "sure" is not a boolean`},
		{"bad concurrency", "RANCHER_CONCURRENCY", map[string]string{"RANCHER_CONCURRENCY": "0"}, ""},
		{"concurrency above 64", "RANCHER_CONCURRENCY", map[string]string{"RANCHER_CONCURRENCY": "65"}, ""},
		{"environment with a control character", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "1a5,prod\x01eu"}, "control character"},
		{"environment with a tab", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "prod\teu"}, "control character"},
		{"environment name too long", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": long}, "longer than 255"},
		{"environment not UTF-8", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "Producci\xf3n"}, "UTF-8"},
		{"environments with a project URL", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "all", "CATTLE_URL": "http://rancher:8080/v2-beta/projects/1a5"}, ""},
		{"bad role", "AWS_ROLE_ARN", map[string]string{"AWS_ROLE_ARN": "admin", "AWS_REGION": "us-east-1"}, ""},
		{"role without region", "AWS_ROLE_ARN", map[string]string{"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ecr"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"ecr-updater", "once"}, &stdout, &stderr)
			if code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitConfig, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.variable) {
				t.Errorf("message does not name %s:\n%s", tc.variable, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("message does not say %q:\n%s", tc.want, stderr.String())
			}
			for _, secret := range []string{"sk-secret-value", "sk-in-url"} {
				if strings.Contains(stderr.String()+stdout.String(), secret) {
					t.Errorf("output shows a secret:\n%s", stderr.String())
				}
			}
		})
	}
}

func TestUnknownFlagAndCommand(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{{"ecr-updater", "--no-such-flag"}, {"ecr-updater", "frobnicate"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != exitConfig {
			t.Errorf("%v: exit %d, want %d; stderr %s", args, code, exitConfig, stderr.String())
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ecr-updater ") {
		t.Errorf("version: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
	var flagOut bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "--version"}, &flagOut, &stderr); code != 0 || flagOut.String() != stdout.String() {
		t.Errorf("--version: exit %d, %q; want the output of version, %q", code, flagOut.String(), stdout.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"ecr-updater", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	// --help names every variable the README documents.
	for _, v := range settingVars {
		if notInHelp[v] {
			continue
		}
		if !strings.Contains(stdout.String(), "$"+v) {
			t.Errorf("--help does not mention $%s", v)
		}
	}
}

// loadWith runs load over the real flags with exactly env set (every other setting unset) and the given
// command-line arguments.
func loadWith(t *testing.T, env map[string]string, args ...string) (*settings, string, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var got *settings
	var stderr bytes.Buffer
	cmd := &cli.Command{Name: "ecr-updater", Flags: flags(), Writer: io.Discard, ErrWriter: &stderr,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action: func(_ context.Context, c *cli.Command) error {
			s, err := load(c, &stderr, redact.NewScrubber())
			got = s
			return err
		}}
	err := cmd.Run(context.Background(), append([]string{"ecr-updater"}, args...))
	return got, stderr.String(), err
}

var required = map[string]string{"CATTLE_URL": "http://127.0.0.1:1/v1", "CATTLE_ACCESS_KEY": "ak", "CATTLE_SECRET_KEY": "sk-secret-value"}

func with(extra map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range required {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// TestConfigAcceptsDropInValues: every value the old image accepted (strconv.ParseBool forms, logrus level
// names), and every environment name Rancher accepts.
func TestConfigAcceptsDropInValues(t *testing.T) {
	bools := map[string]bool{"1": true, "t": true, "T": true, "TRUE": true, "true": true, "True": true,
		"0": false, "f": false, "F": false, "FALSE": false, "false": false, "False": false,
		"yes": true, "no": false, "ON": true, "off": false, "": false, " true ": true}
	for value, want := range bools {
		for _, variable := range []string{"AUTO_CREATE", "DRY_RUN", "EVENTS", "RANCHER_INSECURE_SKIP_VERIFY"} {
			s, out, err := loadWith(t, with(map[string]string{variable: value, "AWS_REGION": "us-east-1"}))
			if err != nil {
				t.Errorf("%s=%q: %v %s", variable, value, err, out)
				continue
			}
			got := map[string]bool{"AUTO_CREATE": s.updater.Rules.AutoCreate, "DRY_RUN": s.updater.DryRun,
				"EVENTS": s.updater.Events, "RANCHER_INSECURE_SKIP_VERIFY": s.updater.Rancher.InsecureSkipVerify}[variable]
			want := want
			if variable == "EVENTS" && strings.TrimSpace(value) == "" {
				want = true // EVENTS is on unless set false
			}
			if got != want {
				t.Errorf("%s=%q read as %v, want %v", variable, value, got, want)
			}
		}
	}
	levels := map[string]logrus.Level{"": logrus.InfoLevel, "panic": logrus.ErrorLevel, "PANIC": logrus.ErrorLevel,
		"fatal": logrus.ErrorLevel, "Fatal": logrus.ErrorLevel, "error": logrus.ErrorLevel, "ERROR": logrus.ErrorLevel,
		"warn": logrus.WarnLevel, "warning": logrus.WarnLevel, "WARNING": logrus.WarnLevel, "info": logrus.InfoLevel,
		"INFO": logrus.InfoLevel, "debug": logrus.DebugLevel, "Debug": logrus.DebugLevel, "trace": logrus.TraceLevel,
		"TRACE": logrus.TraceLevel}
	for value, want := range levels {
		s, out, err := loadWith(t, with(map[string]string{"LOG_LEVEL": value}))
		if err != nil {
			t.Errorf("LOG_LEVEL=%q: %v %s", value, err, out)
			continue
		}
		if got := s.log.GetLevel(); got != want {
			t.Errorf("LOG_LEVEL=%q: level %s, want %s", value, got, want)
		}
	}
	envs := map[string][]string{
		"Producción":                  {"Producción"},
		"Team (A), prod/eu":           {"Team (A)", "prod/eu"},
		"1a5, Default ,all":           {"1a5", "Default", "all"},
		`Sales\, EMEA,Ops`:            {"Sales, EMEA", "Ops"},
		`a\\b,c\,`:                    {`a\b`, "c,"},
		`C:\Temp`:                     {`C:\Temp`},
		"Équipe Paris #2 [staging] ✓": {"Équipe Paris #2 [staging] ✓"},
	}
	for value, want := range envs {
		env := with(map[string]string{"RANCHER_ENVIRONMENTS": value})
		env["CATTLE_URL"] = "https://rancher.example.com/v2-beta"
		s, out, err := loadWith(t, env)
		if err != nil {
			t.Errorf("RANCHER_ENVIRONMENTS=%q: %v %s", value, err, out)
			continue
		}
		if !slices.Equal(s.updater.Environments, want) {
			t.Errorf("RANCHER_ENVIRONMENTS=%q read as %q, want %q", value, s.updater.Environments, want)
		}
	}
	for variable, value := range map[string]string{"RANCHER_TIMEOUT": "10m", "ECR_TIMEOUT": "1s"} {
		s, out, err := loadWith(t, with(map[string]string{variable: value}))
		if err != nil {
			t.Errorf("%s=%s: %v %s", variable, value, err, out)
			continue
		}
		got := map[string]time.Duration{"RANCHER_TIMEOUT": s.updater.Rancher.Timeout, "ECR_TIMEOUT": s.updater.ECR.Timeout}[variable]
		if want, _ := time.ParseDuration(value); got != want {
			t.Errorf("%s=%s read as %s", variable, value, got)
		}
	}
	for _, keys := range []map[string]string{
		{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
		{"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"},
	} {
		if _, out, err := loadWith(t, with(keys)); err != nil {
			t.Errorf("%v: %v %s", keys, err, out)
		}
	}
}

// TestConfigDefaults: every setting left unset takes the default that --help shows.
func TestConfigDefaults(t *testing.T) {
	s, out, err := loadWith(t, with(nil))
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	u := s.updater
	if u.Interval != defaultInterval || u.Concurrency != defaultConcurrency || s.listenPort != defaultListenPort ||
		u.Rancher.Timeout != defaultRancherTimeout || u.ECR.Timeout != defaultECRTimeout || s.log.GetLevel() != logrus.InfoLevel ||
		u.DryRun || u.Rules.AutoCreate || u.Rancher.InsecureSkipVerify || len(u.Environments) != 0 || !u.Events {
		t.Errorf("defaults: %+v, port %d, level %s", u, s.listenPort, s.log.GetLevel())
	}
	var help bytes.Buffer
	clearEnv(t)
	if code := run(context.Background(), []string{"ecr-updater", "--help"}, &help, io.Discard); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{`(default: "6h") [$UPDATE_INTERVAL]`, `(default: "8") [$RANCHER_CONCURRENCY]`,
		`(default: "8080") [$LISTEN_PORT]`, `(default: "10s") [$RANCHER_TIMEOUT]`, `(default: "30s") [$ECR_TIMEOUT]`,
		"(1s to 10m)", "(1 to 64)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

// TestMissingRequiredInOneMessage: every missing required variable, and every other problem, in one run.
func TestMissingRequiredInOneMessage(t *testing.T) {
	clearEnv(t)
	t.Setenv("RANCHER_TIMEOUT", "1h")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "once"}, &stdout, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d:\n%s", code, exitConfig, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "CATTLE_URL, CATTLE_ACCESS_KEY, CATTLE_SECRET_KEY are not set") {
		t.Errorf("no one message naming the three missing variables:\n%s", out)
	}
	for _, want := range []string{"RANCHER_TIMEOUT", "AWS_SECRET_ACCESS_KEY is not set"} {
		if !strings.Contains(out, want) {
			t.Errorf("the same run does not also report %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "ecr-updater: "); n != 3 {
		t.Errorf("%d messages, want 3 (one per problem):\n%s", n, out)
	}
}

// TestFlagBooleans: boolean flags need no value, take one with =, and beat the environment variable.
func TestFlagBooleans(t *testing.T) {
	s, out, err := loadWith(t, with(map[string]string{"AWS_REGION": "us-east-1"}), "--dry-run", "--auto-create", "--rancher-insecure-skip-verify")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if !s.updater.DryRun || !s.updater.Rules.AutoCreate || !s.updater.Rancher.InsecureSkipVerify {
		t.Errorf("flags without a value not read as true: %+v", s.updater)
	}
	s, out, err = loadWith(t, with(map[string]string{"DRY_RUN": "true", "AUTO_CREATE": "T"}), "--dry-run=false", "--auto-create=0")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if s.updater.DryRun || s.updater.Rules.AutoCreate {
		t.Errorf("--dry-run=false and --auto-create=0 did not beat the environment: %+v", s.updater)
	}
	if _, _, err := loadWith(t, with(nil), "--dry-run=perhaps"); err == nil || !strings.Contains(err.Error(), "dry-run") {
		t.Errorf("--dry-run=perhaps: %v", err)
	}
	// The command line, as the operator types it: the flag before the command.
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "--dry-run", "once"}, &stdout, &stderr); code != exitConfig ||
		!strings.Contains(stderr.String(), "CATTLE_URL, CATTLE_ACCESS_KEY, CATTLE_SECRET_KEY are not set") {
		t.Errorf("--dry-run once without Rancher settings: exit %d %s", code, stderr.String())
	}
}

// TestDemoRefusesBadArguments: exit 2 naming the flag, before any stand-in starts.
func TestDemoRefusesBadArguments(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct{ args, flag string }{
		{"--passes -1", "--passes"}, {"--passes=-5", "--passes"}, {"--token-ttl 0", "--token-ttl"},
		{"--token-ttl 0s", "--token-ttl"}, {"--token-ttl -1s", "--token-ttl"}, {"--token-ttl soon", "token-ttl"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"ecr-updater", "demo"}, strings.Fields(c.args)...), &stdout, &stderr)
		if code != exitConfig || !strings.Contains(stderr.String(), c.flag) {
			t.Errorf("demo %s: exit %d, want %d naming %s: %s", c.args, code, exitConfig, c.flag, stderr.String())
		}
		if strings.Contains(stdout.String(), "stand-in at") {
			t.Errorf("demo %s started: %s", c.args, stdout.String())
		}
	}
}

func TestEscapedList(t *testing.T) {
	for in, want := range map[string][]string{
		"":            nil,
		" , ,":        nil,
		`a\,b`:        {"a,b"},
		`a\\,b`:       {`a\`, "b"},
		`a\\\\,b`:     {`a\\`, "b"},
		`\,`:          {","},
		`a\b`:         {`a\b`},
		`trailing\\`:  {`trailing\`},
		`lone\`:       {`lone\`},
		" x , y\\, z": {"x", "y, z"},
	} {
		if got := escapedList(in); !slices.Equal(got, want) {
			t.Errorf("escapedList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]bool{"": false, "false": false, "FALSE": false, "0": false, "true": true, "True": true, "1": true,
		"yes": true, "t": true, "T": true, "f": false, "F": false, "tRuE": true} {
		if got, err := parseBool(in); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"INFO", "info", "Debug", "WARN", "warning", "error", "", "trace", "fatal", "panic"} {
		if _, err := parseLevel(in); err != nil {
			t.Errorf("parseLevel(%q): %v", in, err)
		}
	}
	if got := list(" a, ,b ,"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("list: %q", got)
	}
}

// TestComposePassesEveryVariable: docker-compose.yml passes every variable a flag reads, and the README's
// configuration table documents it.
func TestComposePassesEveryVariable(t *testing.T) {
	compose, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range flags() {
		for _, v := range f.(interface{ GetEnvVars() []string }).GetEnvVars() {
			n++
			line := "      " + v + ": ${" + v + "}\n"
			if v == "LISTEN_PORT" {
				line = "      LISTEN_PORT: '" + strconv.Itoa(defaultListenPort) + "'\n"
			}
			if !strings.Contains(string(compose), line) {
				t.Errorf("docker-compose.yml lacks %q", line)
			}
			if !strings.Contains(string(readme), "| `"+v+"`") && !strings.Contains(string(readme), "`"+v+"`)") {
				t.Errorf("README's configuration table lacks %s", v)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d variables found in the flags", n)
	}
}

// TestExitMessagesAreScrubbed: a configuration error that quotes a value carries no secret, even when the value
// is one (here the Rancher secret key pasted into UPDATE_INTERVAL and the AWS secret key into ECR_REGIONS).
func TestExitMessagesAreScrubbed(t *testing.T) {
	clearEnv(t)
	const rancherSecret, awsSecret = "sk-pasted-in-the-wrong-place", "aws-secret-pasted-too-0123"
	for k, v := range map[string]string{"CATTLE_URL": "http://127.0.0.1:1/v1", "CATTLE_ACCESS_KEY": "ak",
		"CATTLE_SECRET_KEY": rancherSecret, "UPDATE_INTERVAL": rancherSecret, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE0000000001",
		"AWS_SECRET_ACCESS_KEY": awsSecret, "ECR_REGIONS": awsSecret} {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"ecr-updater", "once"}, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if code != exitConfig || !strings.Contains(out, "UPDATE_INTERVAL") || !strings.Contains(out, "ECR_REGIONS") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, rancherSecret) || strings.Contains(out, awsSecret) {
		t.Errorf("a secret is in the exit message:\n%s", out)
	}
}

// TestSettingNamesAreVariables: the names main.go hands the packages (settingNames) are variables the daemon reads,
// every one of them, so that a message never names a setting the operator cannot set.
func TestSettingNamesAreVariables(t *testing.T) {
	v := reflect.ValueOf(settingNames())
	for i := range v.NumField() {
		if name := v.Field(i).String(); !slices.Contains(settingVars, name) || notInHelp[name] {
			t.Errorf("settingNames().%s = %q, not a variable of the daemon's own", v.Type().Field(i).Name, name)
		}
	}
}
