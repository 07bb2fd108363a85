package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// settingVars are every variable the daemon reads; each test starts with all of them unset.
var settingVars = []string{"CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ROLE_ARN", "AWS_ECR_REGISTRY_IDS", "ECR_REGIONS", "AUTO_CREATE", "UPDATE_INTERVAL", "DRY_RUN", "LOG_LEVEL",
	"LOG_FORMAT", "LISTEN_PORT", "RANCHER_TIMEOUT", "ECR_TIMEOUT", "RANCHER_CA_CERT", "RANCHER_INSECURE_SKIP_VERIFY",
	"RANCHER_ENVIRONMENTS", "RANCHER_CONCURRENCY", "AWS_WEB_IDENTITY_TOKEN_FILE"}

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
	base := map[string]string{"CATTLE_URL": "http://127.0.0.1:1/v1", "CATTLE_ACCESS_KEY": "ak", "CATTLE_SECRET_KEY": "sk-secret-value"}
	cases := []struct {
		name, variable string
		env            map[string]string
	}{
		{"missing CATTLE_URL", "CATTLE_URL", map[string]string{"CATTLE_URL": ""}},
		{"CATTLE_URL without scheme", "CATTLE_URL", map[string]string{"CATTLE_URL": "rancher:8080"}},
		{"CATTLE_URL with keys", "CATTLE_URL", map[string]string{"CATTLE_URL": "http://ak:sk-in-url@rancher:8080/v1"}},
		{"CATTLE_URL other path", "CATTLE_URL", map[string]string{"CATTLE_URL": "http://rancher:8080/v3"}},
		{"missing access key", "CATTLE_ACCESS_KEY", map[string]string{"CATTLE_ACCESS_KEY": ""}},
		{"missing secret key", "CATTLE_SECRET_KEY", map[string]string{"CATTLE_SECRET_KEY": ""}},
		{"bad duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "6x"}},
		{"zero duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "0s"}},
		{"negative duration", "UPDATE_INTERVAL", map[string]string{"UPDATE_INTERVAL": "-1h"}},
		{"unknown log level", "LOG_LEVEL", map[string]string{"LOG_LEVEL": "verbose"}},
		{"unknown log format", "LOG_FORMAT", map[string]string{"LOG_FORMAT": "xml"}},
		{"short registry id", "AWS_ECR_REGISTRY_IDS", map[string]string{"AWS_ECR_REGISTRY_IDS": "123456789012,12345"}},
		{"letters in registry id", "AWS_ECR_REGISTRY_IDS", map[string]string{"AWS_ECR_REGISTRY_IDS": "12345678901a"}},
		{"bad region list", "ECR_REGIONS", map[string]string{"ECR_REGIONS": "us-east-1,mars"}},
		{"bad region", "AWS_REGION", map[string]string{"AWS_REGION": "useast1"}},
		{"bad bool", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "maybe"}},
		{"auto create without region", "AUTO_CREATE", map[string]string{"AUTO_CREATE": "true"}},
		{"auto create outside ECR_REGIONS", "ECR_REGIONS", map[string]string{"AUTO_CREATE": "true", "AWS_REGION": "us-east-1", "ECR_REGIONS": "eu-west-1"}},
		{"bad dry run", "DRY_RUN", map[string]string{"DRY_RUN": "2"}},
		{"bad port", "LISTEN_PORT", map[string]string{"LISTEN_PORT": "http"}},
		{"port out of range", "LISTEN_PORT", map[string]string{"LISTEN_PORT": "70000"}},
		{"bad rancher timeout", "RANCHER_TIMEOUT", map[string]string{"RANCHER_TIMEOUT": "soon"}},
		{"bad ecr timeout", "ECR_TIMEOUT", map[string]string{"ECR_TIMEOUT": "10"}},
		{"missing CA file", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": filepath.Join(dir, "nope.pem")}},
		{"CA file not PEM", "RANCHER_CA_CERT", map[string]string{"RANCHER_CA_CERT": notPEM}},
		{"bad insecure flag", "RANCHER_INSECURE_SKIP_VERIFY", map[string]string{"RANCHER_INSECURE_SKIP_VERIFY": "sure"}},
		{"bad concurrency", "RANCHER_CONCURRENCY", map[string]string{"RANCHER_CONCURRENCY": "0"}},
		{"bad environment", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "1a5,/etc"}},
		{"environments with a project URL", "RANCHER_ENVIRONMENTS", map[string]string{"RANCHER_ENVIRONMENTS": "all", "CATTLE_URL": "http://rancher:8080/v2-beta/projects/1a5"}},
		{"bad role", "AWS_ROLE_ARN", map[string]string{"AWS_ROLE_ARN": "admin", "AWS_REGION": "us-east-1"}},
		{"role without region", "AWS_ROLE_ARN", map[string]string{"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ecr"}},
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
	stdout.Reset()
	if code := run(context.Background(), []string{"ecr-updater", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	// --help names every variable the README documents.
	for _, v := range settingVars {
		if v == "AWS_WEB_IDENTITY_TOKEN_FILE" {
			continue
		}
		if !strings.Contains(stdout.String(), "$"+v) {
			t.Errorf("--help does not mention $%s", v)
		}
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]bool{"": false, "false": false, "FALSE": false, "0": false, "true": true, "True": true, "1": true, "yes": true} {
		if got, err := boolean(in); err != nil || got != want {
			t.Errorf("boolean(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"INFO", "info", "Debug", "WARN", "warning", "error", ""} {
		if _, err := parseLevel(in); err != nil {
			t.Errorf("parseLevel(%q): %v", in, err)
		}
	}
	if got := list(" a, ,b ,"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("list: %q", got)
	}
}
