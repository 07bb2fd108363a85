package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"
	"gopkg.in/yaml.v3"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// settingVars are every variable the daemon reads; each test starts with all of them unset.
var settingVars = []string{"CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ROLE_ARN", "AWS_ECR_REGISTRY_IDS", "ECR_REGIONS", "AUTO_CREATE", "UPDATE_INTERVAL", "DRY_RUN", "EVENTS", "DISCOVER_REGISTRIES", "LOG_LEVEL",
	"LOG_FORMAT", "LISTEN_PORT", "RANCHER_TIMEOUT", "ECR_TIMEOUT", "RANCHER_CA_CERT", "RANCHER_INSECURE_SKIP_VERIFY",
	"RANCHER_ENVIRONMENTS", "RANCHER_CONCURRENCY", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "CATTLE_ACCESS_KEY_FILE", "CATTLE_SECRET_KEY_FILE", "AWS_ACCESS_KEY_ID_FILE",
	"AWS_SECRET_ACCESS_KEY_FILE", "AWS_SESSION_TOKEN_FILE", "HTTPS_PROXY_FILE", "HTTP_PROXY_FILE", "RANCHER_CA_CERT_FILE",
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
	caFile := writeFile(t, dir, "ca.pem", string(testCA(t)))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("sk-secret-value: a key pasted by mistake")}))
	badDER := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
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
		{"CA file not PEM", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": notPEM}, notPEM + " holds no PEM certificate"},
		{"CA PEM that does not decode", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"},
			"RANCHER_CA_CERT: the PEM holds no PEM certificate"},
		{"CA PEM with a private key", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": string(testCA(t)) + keyPEM}, `holds a "PRIVATE KEY" PEM block`},
		{"CA certificate that does not parse", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": badDER}, "holds a certificate (number 1) that does not parse"},
		{"CA and its file", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": caFile, "RANCHER_CA_CERT_FILE": caFile},
			"RANCHER_CA_CERT and RANCHER_CA_CERT_FILE are both set: set one of them"},
		{"CA file missing", "RANCHER_CA_CERT_FILE", map[string]string{"RANCHER_CA_CERT_FILE": filepath.Join(dir, "nope.pem")}, "does not exist"},
		{"CA file of the _FILE not PEM", "RANCHER_CA_CERT_FILE", map[string]string{"RANCHER_CA_CERT_FILE": notPEM}, "RANCHER_CA_CERT_FILE: " + notPEM + " holds no PEM"},
		{"CA file with a private key", "RANCHER_CA_CERT_FILE", map[string]string{"RANCHER_CA_CERT_FILE": writeFile(t, dir, "key.pem", keyPEM)}, `"PRIVATE KEY"`},
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
			for _, secret := range []string{"sk-secret-value", "sk-in-url", base64.StdEncoding.EncodeToString([]byte("sk-secret-value"))[:12]} {
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
	if u.Interval != updater.DefaultInterval || u.Concurrency != rancher.DefaultConcurrency || s.listenPort != defaultListenPort ||
		u.Rancher.Timeout != rancher.DefaultTimeout || u.ECR.Timeout != ecr.DefaultTimeout || s.log.GetLevel() != logrus.InfoLevel ||
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
	for _, in := range []string{"INFO", "info", "Debug", "WARN", "warning", "error", "trace", "fatal", "panic"} {
		if _, err := parseLevel(in); err != nil {
			t.Errorf("parseLevel(%q): %v", in, err)
		}
	}
	if got := list(" a, ,b ,"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("list: %q", got)
	}
}

// tableVars are the variables of the settings table, the <VAR>_FILE companions included, but the lower-case forms
// net/http also reads.
func tableVars() []string {
	var out []string
	for _, r := range table() {
		for _, v := range r.vars {
			if v == strings.ToUpper(v) {
				out = append(out, v)
			}
		}
		if r.file != "" {
			out = append(out, r.fileVar())
		}
	}
	return out
}

// TestComposePassesEveryVariable: docker-compose.yml passes every variable of the settings table.
func TestComposePassesEveryVariable(t *testing.T) {
	compose, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range tableVars() {
		line := "      " + v + ": ${" + v + "}\n"
		if v == "LISTEN_PORT" {
			line = "      LISTEN_PORT: '" + strconv.Itoa(defaultListenPort) + "'\n"
		}
		if !strings.Contains(string(compose), line) {
			t.Errorf("docker-compose.yml lacks %q", line)
		}
	}
	if n := len(tableVars()); n < 30 {
		t.Errorf("only %d variables found in the table", n)
	}
}

// readmeSection is the README's section of that title, up to the next one.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("the README has no section %q", title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// othersVars are the variables of the README's configuration table that the AWS SDK or net/http read, not the
// daemon.
var othersVars = []string{"AWS_PROFILE", "NO_PROXY", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_STS"}

// TestReadmeConfigurationTable: the README's configuration table says what the settings table says: every variable
// (and no other, but the AWS SDK's and net/http's), each with its flag and its default.
func TestReadmeConfigurationTable(t *testing.T) {
	section := readmeSection(t, "Configuration")
	rows := map[string][]string{} // variable -> its table row's cells
	backticked := regexp.MustCompile("`([A-Za-z_]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if !strings.HasPrefix(line, "| `") || len(cells) < 4 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			rows[m[1]] = cells
		}
	}
	if len(rows) < 30 {
		t.Fatalf("only %d variables in the README's configuration table", len(rows))
	}
	known := map[string]bool{}
	for _, v := range othersVars {
		known[v] = true
	}
	for _, r := range table() {
		for _, v := range r.vars {
			known[v] = true
		}
		vars := r.vars[:1]
		if r.file != "" {
			vars = append(vars, r.fileVar())
		}
		for i, v := range vars {
			known[v] = true
			cells, ok := rows[v]
			switch {
			case !ok:
				t.Errorf("README's configuration table lacks %s", v)
			case i == 0 && r.flag != "" && cells[1] != "`--"+r.flag+"`":
				t.Errorf("README: %s's flag is %s, the table's --%s", v, cells[1], r.flag)
			case i == 1 && cells[1] != "`--"+r.fileFlag()+"`":
				t.Errorf("README: %s's flag is %s, the table's --%s", v, cells[1], r.fileFlag())
			case i == 0 && r.def != "" && cells[2] != "`"+r.def+"`":
				t.Errorf("README: %s's default is %s, the table's %q", v, cells[2], r.def)
			}
		}
	}
	for v := range rows {
		if !known[v] {
			t.Errorf("README's configuration table documents %s, which no setting reads", v)
		}
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

// TestSettingNamesAreVariables: the names main.go gives the settings where text leaves the process (names) are
// variables the daemon reads, every one of them, so that a message never names a setting the operator cannot set.
func TestSettingNamesAreVariables(t *testing.T) {
	for id := setting.ID(1); id < setting.NumIDs; id++ {
		if name := names().Replace(id.String()); !slices.Contains(settingVars, name) {
			t.Errorf("%s is named %q, not a variable of the daemon's", id, name)
		}
	}
}

// TestTableHasEveryID: every setting.ID has exactly one row, with a variable; flags, variables and start-line keys
// are each one setting's; every default parses (TestConfigDefaults loads them all).
func TestTableHasEveryID(t *testing.T) {
	rows := map[setting.ID]int{}
	flagsSeen, varsSeen, keysSeen := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range table() {
		rows[r.id]++
		if len(r.vars) == 0 {
			t.Errorf("setting %d has no variable", r.id)
			continue
		}
		for _, f := range r.flagNames() {
			if flagsSeen[f] {
				t.Errorf("flag --%s is two settings'", f)
			}
			flagsSeen[f] = true
		}
		for _, v := range append(append([]string{}, r.vars...), r.fileVar()) {
			if varsSeen[v] {
				t.Errorf("variable %s is two settings'", v)
			}
			varsSeen[v] = true
		}
		if r.logKey != "" && keysSeen[r.logKey] {
			t.Errorf("start-line key %s is two settings'", r.logKey)
		}
		keysSeen[r.logKey] = true
		if r.parse != nil && r.show == nil || r.logKey != "" && r.show == nil {
			t.Errorf("%s: parsed or logged, but not shown", r.vars[0])
		}
	}
	for id := setting.ID(1); id < setting.NumIDs; id++ {
		if rows[id] != 1 {
			t.Errorf("setting %d has %d rows, want 1", id, rows[id])
		}
	}
	if len(rows) != int(setting.NumIDs)-1 {
		t.Errorf("%d rows for %d settings", len(rows), setting.NumIDs-1)
	}
	// Every setting the packages refer to is named by the first variable of its row.
	for id := setting.ID(1); id < setting.NumIDs; id++ {
		if got := names().Replace("[" + id.String() + "]"); got != "["+rowOf(id).vars[0]+"]" {
			t.Errorf("%s is named %s, want %s", id, got, rowOf(id).vars[0])
		}
	}
}

// TestHelpFromTable: --help shows every setting's flag with its variables and its default, and every file's flag.
func TestHelpFromTable(t *testing.T) {
	clearEnv(t)
	var help bytes.Buffer
	if code := run(context.Background(), []string{"ecr-updater", "--help"}, &help, io.Discard); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, r := range table() {
		if r.flag != "" {
			line := regexp.MustCompile(`(?m)^\s+--` + r.flag + `\b.*$`).FindString(help.String())
			if !strings.HasSuffix(line, r.defaultHint()+envHint(r.vars...)) || !strings.Contains(line, r.usage) {
				t.Errorf("--help's line of --%s: %q", r.flag, line)
			}
		}
		if r.file != "" && !strings.Contains(help.String(), "--"+r.fileFlag()+" string") {
			t.Errorf("--help lacks --%s", r.fileFlag())
		}
	}
	// Every variable the help names (in a flag's usage, or the description) is one the daemon or the AWS SDK reads.
	known := map[string]bool{"AWS_WEB_IDENTITY_TOKEN_FILE": true, "AWS_PROFILE": true}
	for _, v := range tableVars() {
		known[v] = true
	}
	names := regexp.MustCompile(`\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b`).FindAllString(help.String(), -1)
	for _, v := range names {
		if !known[v] {
			t.Errorf("--help names %s, which nothing reads", v)
		}
	}
	if len(names) < 40 {
		t.Errorf("only %d variables named in --help", len(names))
	}
}

// TestEveryProblemInOneRun: the example, as an operator meets it: exit 2 and one line per problem, each
// naming its variable, booleans included; the quoted URL with the hint to remove the quotes.
func TestEveryProblemInOneRun(t *testing.T) {
	bad := map[string]string{"UPDATE_INTERVAL": "5", "LOG_LEVEL": "verbose", "AUTO_CREATE": "maybe", "CATTLE_URL": `"http://rancher:8080/v1"`}
	want := []string{
		`ecr-updater: CATTLE_URL: "\"http://rancher:8080/v1\"" has quotes around it: remove them`,
		`ecr-updater: AUTO_CREATE: "maybe" is not a boolean: give true or false (also 1/0, t/f, yes/no, on/off)`,
		`ecr-updater: UPDATE_INTERVAL: "5" is not a duration: a number needs its unit, like 5s, 5m or 5h`,
		`ecr-updater: LOG_LEVEL: "verbose" is not trace, debug, info, warn, warning, error, fatal or panic`,
	}
	for _, keys := range []bool{true, false} {
		env := map[string]string{}
		for k, v := range bad {
			env[k] = v
		}
		lines := want
		if keys {
			env["CATTLE_ACCESS_KEY"], env["CATTLE_SECRET_KEY"] = "ak", "sk-secret-value"
		} else {
			lines = append(lines, "ecr-updater: CATTLE_ACCESS_KEY, CATTLE_SECRET_KEY are not set: give the Rancher API URL and key")
		}
		for _, args := range [][]string{nil, {"once"}, {"doctor"}} {
			code, out := daemon(t, env, args...)
			t.Logf("keys %v, %v: exit %d\n%s", keys, args, code, out)
			if code != exitConfig {
				t.Errorf("exit %d, want 2", code)
			}
			for _, l := range lines {
				if len(args) > 0 && args[0] == "doctor" {
					l = strings.TrimPrefix(l, "ecr-updater: ") // doctor's line of the configuration says them all
				}
				if !strings.Contains(out, l) {
					t.Errorf("no line %q", l)
				}
			}
			if args == nil && strings.Count(out, "\n") != len(lines) {
				t.Errorf("%d lines, want %d", strings.Count(out, "\n"), len(lines))
			}
		}
	}
}

// TestQuotedValues: a value wrapped in quotes, as an .env file leaves them, is refused with the hint, whatever the
// variable; a secret's value (or a proxy URL's) is not shown; a quote inside a value is the value's own.
func TestQuotedValues(t *testing.T) {
	for variable, value := range map[string]string{"LOG_LEVEL": "'debug'", "AWS_REGION": `"eu-west-1"`, "LISTEN_PORT": `'8080'`,
		"RANCHER_ENVIRONMENTS": `"Default"`, "AWS_ACCESS_KEY_ID": `"AKIAEXAMPLE"`, "DRY_RUN": `"true"`} {
		env := with(map[string]string{variable: value, "AWS_SECRET_ACCESS_KEY": "sk-aws-secret"})
		code, out := daemon(t, env, "once")
		if hint := variable + ": " + strconv.Quote(value) + " has quotes around it: remove them"; code != exitConfig || !strings.Contains(out, hint) {
			t.Errorf("%s=%s: exit %d, want 2 with %q:\n%s", variable, value, code, hint, out)
		}
	}
	for variable, value := range map[string]string{"CATTLE_SECRET_KEY": `"sk-quoted-secret"`, "AWS_SECRET_ACCESS_KEY": `'sk-quoted-aws'`,
		"HTTPS_PROXY": `"http://me:quoted-proxy-pass@proxy.example:3128"`} {
		env := with(map[string]string{variable: value})
		if variable == "AWS_SECRET_ACCESS_KEY" {
			env["AWS_ACCESS_KEY_ID"] = "AKIAEXAMPLE"
		}
		code, out := daemon(t, env, "once")
		if code != exitConfig || !strings.Contains(out, variable+" has quotes around its value: remove them") {
			t.Errorf("%s: exit %d:\n%s", variable, code, out)
		}
		if strings.Contains(out, "quoted") {
			t.Errorf("%s: the value is shown:\n%s", variable, out)
		}
	}
	// A quote that does not wrap the value is not refused for it.
	s, out, err := loadWith(t, with(map[string]string{"RANCHER_ENVIRONMENTS": `Team "A",'B'`, "CATTLE_URL": "http://rancher:8080"}))
	if err != nil || !slices.Equal(s.updater.Environments, []string{`Team "A"`, "'B'"}) {
		t.Errorf("quotes inside: %v %s %q", err, out, s.updater.Environments)
	}
}

// TestCommandsAsFlags: a command given as a flag names the command (exit 2); --version is a flag of its own.
func TestCommandsAsFlags(t *testing.T) {
	for _, c := range []struct{ args, command string }{{"--once", "once"}, {"--doctor", "doctor"}, {"--demo", "demo"},
		{"--run", "run"}, {"--healthcheck", "healthcheck"}, {"-once", "once"}, {"once --doctor", "doctor"},
		{"doctor --version", "version"}, {"demo --healthcheck", "healthcheck"}} {
		code, out := daemon(t, nil, strings.Fields(c.args)...)
		want := "is not a flag: did you mean the command `" + c.command + "`? (ecr-updater " + c.command + ")"
		if code != exitConfig || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, want 2 with %q:\n%s", c.args, code, want, out)
		}
		if strings.Contains(out, "USAGE") {
			t.Errorf("%s: the help is printed too:\n%s", c.args, out)
		}
	}
	if code, out := daemon(t, nil, "--version"); code != 0 || !strings.HasPrefix(out, "ecr-updater ") {
		t.Errorf("--version: exit %d %s", code, out)
	}
	if code, out := daemon(t, nil, "--oncee"); code != exitConfig || strings.Contains(out, "did you mean") || !strings.Contains(out, "oncee") {
		t.Errorf("--oncee: exit %d %s", code, out)
	}
}

// TestDemoRefusesDaemonFlags: the daemon's flags given to demo are refused (exit 2, naming each, before any
// stand-in starts), before or after the command; its variables are not read; --log-level and LOG_LEVEL apply.
func TestDemoRefusesDaemonFlags(t *testing.T) {
	file := writeFile(t, t.TempDir(), "key", "k\n")
	for _, args := range []string{"--dry-run demo", "demo --dry-run", "--cattle-url http://rancher demo", "demo --events=false",
		"--aws-secret-access-key-file " + file + " demo", "--dry-run --auto-create demo --passes 1"} {
		code, out := daemon(t, nil, strings.Fields(args)...)
		for _, f := range strings.Fields(args) {
			if strings.HasPrefix(f, "--") && f != "--passes" {
				flag, _, _ := strings.Cut(f, "=")
				if !strings.Contains(out, flag+" does not apply to demo") {
					t.Errorf("%s: no refusal of %s:\n%s", args, flag, out)
				}
			}
		}
		if code != exitConfig || strings.Contains(out, "stand-in at") || strings.Contains(out, "PASS") {
			t.Errorf("%s: exit %d:\n%s", args, code, out)
		}
	}
	// The daemon's variables do not stop the demo; LOG_LEVEL applies, as --log-level.
	env := map[string]string{"DRY_RUN": "maybe", "CATTLE_URL": "rancher", "LOG_LEVEL": "info"}
	if code, out := daemon(t, env, "demo", "--passes", "1", "--token-ttl", "2s"); code != 0 || !strings.Contains(out, "level=info") {
		t.Errorf("demo with the daemon's variables: exit %d:\n%s", code, out)
	}
	if code, out := daemon(t, nil, "--log-level", "verbose", "demo"); code != exitConfig || !strings.Contains(out, `--log-level: "verbose"`) {
		t.Errorf("--log-level verbose demo: exit %d:\n%s", code, out)
	}
	if code, out := daemon(t, nil, "demo", "--passes", "1", "--token-ttl", "2s"); code != 0 || strings.Contains(out, "level=info") {
		t.Errorf("demo: exit %d:\n%s", code, out)
	}
}

// TestValuesNamedByWhereTheyCameFrom: a problem names the flag when the value came from it, the variable it came
// from among several (AWS_DEFAULT_REGION), the file's variable for a file; a flag given wins over its variable.
func TestValuesNamedByWhereTheyCameFrom(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"UPDATE_INTERVAL": "1h"}, []string{"--update-interval", "soon"}, `--update-interval: "soon" is not a duration`},
		{map[string]string{"AWS_DEFAULT_REGION": "mars"}, nil, `AWS_DEFAULT_REGION: "mars" is not an AWS region name`},
		{map[string]string{"AWS_REGION": " ", "AWS_DEFAULT_REGION": "mars"}, nil, `AWS_DEFAULT_REGION: "mars"`},
		{nil, []string{"--rancher-concurrency=100"}, `--rancher-concurrency: "100" is not a whole number from 1 to 64`},
		{map[string]string{"DRY_RUN": "yes"}, []string{"--dry-run=perhaps"}, `--dry-run: "perhaps" is not a boolean`},
		{map[string]string{"AWS_ECR_REGISTRY_IDS": "1,2"}, nil, `AWS_ECR_REGISTRY_IDS: "1" is not a 12-digit AWS account id`},
	} {
		_, _, err := loadWith(t, with(c.env), c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want %q", c.env, c.args, err, c.want)
		}
	}
	// Each bad item of a list is a line of its own.
	var stdout, stderr bytes.Buffer
	clearEnv(t)
	for k, v := range with(map[string]string{"ECR_REGIONS": "mars,us-east-1,venus"}) {
		t.Setenv(k, v)
	}
	run(context.Background(), []string{"ecr-updater", "once"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "ecr-updater: ECR_REGIONS: \"mars\"") || !strings.Contains(stderr.String(), "ecr-updater: ECR_REGIONS: \"venus\"") {
		t.Errorf("one line per bad item:\n%s", stderr.String())
	}
	s, out, err := loadWith(t, with(map[string]string{"UPDATE_INTERVAL": "1h", "AWS_REGION": "eu-west-1"}), "--update-interval", "2h", "--aws-region", "us-west-2")
	if err != nil || s.updater.Interval != 2*time.Hour || s.updater.Rules.HomeRegion != "us-west-2" || s.updater.ECR.HomeRegion != "us-west-2" {
		t.Errorf("the flags do not win: %v %s", err, out)
	}
}

// TestStartLineAndSummaryFromTable: the start line has a field for every setting the table logs, and doctor's summary
// the parts of the settings given.
func TestStartLineAndSummaryFromTable(t *testing.T) {
	ca := writeFile(t, t.TempDir(), "ca.pem", string(testCA(t)))
	s, out, err := loadWith(t, with(map[string]string{"AWS_REGION": "eu-west-1", "AUTO_CREATE": "on", "RANCHER_CA_CERT": ca,
		"AWS_ECR_REGISTRY_IDS": "123456789012", "LOG_FORMAT": "json"}))
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	var log bytes.Buffer
	s.log.Out = &log
	s.logStart("once")
	var fields map[string]any
	if err := json.Unmarshal(log.Bytes(), &fields); err != nil {
		t.Fatalf("%v: %s", err, log.String())
	}
	for _, r := range table() {
		if _, ok := fields[r.logKey]; r.logKey != "" && !ok {
			t.Errorf("the start line lacks %s: %s", r.logKey, log.String())
		}
	}
	for k, want := range map[string]any{"aws_region": "eu-west-1", "auto_create": true, "rancher_ca_cert": "file " + ca + " (RANCHER_CA_CERT), 1 certificate(s)",
		"update_interval": "6h", "cattle_secret_key": redact.Marker, "log_format": "json", "aws_ecr_registry_ids": "123456789012"} {
		if fields[k] != want {
			t.Errorf("start line %s = %#v, want %#v", k, fields[k], want)
		}
	}
	want := "valid, as the daemon loads it: CATTLE_URL http://127.0.0.1:1/v1, CATTLE_ACCESS_KEY ak, AWS_REGION eu-west-1, " +
		"AWS_ECR_REGISTRY_IDS 123456789012, AUTO_CREATE on, RANCHER_CA_CERT file " + ca + " (RANCHER_CA_CERT), 1 certificate(s)"
	if got := s.summary(); got != want {
		t.Errorf("summary:\n%s\nwant\n%s", got, want)
	}
}

// TestCatalogDefaultsAreTheDaemons: a catalog question that sets a variable of the table either has the daemon's
// default, or none and says the daemon's default in its description.
func TestCatalogDefaultsAreTheDaemons(t *testing.T) {
	dir := "catalog/infra-templates/ecr-updater/0/"
	tpl, err := os.ReadFile(dir + "docker-compose.yml.tpl")
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		Catalog struct {
			Questions []struct{ Variable, Description, Default string } `yaml:"questions"`
		} `yaml:".catalog"`
	}
	b, err := os.ReadFile(dir + "rancher-compose.yml")
	if err == nil {
		err = yaml.Unmarshal(b, &rc)
	}
	if err != nil {
		t.Fatal(err)
	}
	questions := map[string]int{}
	for i, q := range rc.Catalog.Questions {
		questions[q.Variable] = i
	}
	sets := regexp.MustCompile(`(?m)^\s+([A-Z_]+): \$\{([a-z_]+)\}$`).FindAllStringSubmatch(string(tpl), -1)
	n := 0
	for _, r := range table() {
		for _, m := range sets {
			i, ok := questions[m[2]]
			if m[1] != r.vars[0] || r.def == "" || !ok {
				continue
			}
			n++
			if q := rc.Catalog.Questions[i]; q.Default != r.def && (q.Default != "" || !strings.Contains(q.Description, r.def)) {
				t.Errorf("question %s (%s): default %q, description %q; the daemon's default is %q", m[2], m[1], q.Default, q.Description, r.def)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d questions with a default checked", n)
	}
}

// testCA is the PEM of a self-signed CA certificate.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
