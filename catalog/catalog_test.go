package catalog

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	infraRoot   = "infra-templates"
	projectRoot = "project-templates"
	ourEntry    = "infra-templates/ecr-updater"
	serviceName = "ecr-updater"
)

// daemonEnv are the environment variables ecr-updater reads (its flags' variables, main_test.go's
// TestComposePassesEveryVariable checks that list against the flags) and those of the AWS SDK that make sense in a
// container (AWS_PROFILE does not: the image has no home directory).
var daemonEnv = []string{
	"CATTLE_URL", "CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN",
	"AWS_ECR_REGISTRY_IDS", "ECR_REGIONS", "AUTO_CREATE", "UPDATE_INTERVAL", "DRY_RUN", "EVENTS", "DISCOVER_REGISTRIES",
	"LOG_LEVEL", "LOG_FORMAT", "LISTEN_PORT", "RANCHER_TIMEOUT", "ECR_TIMEOUT", "RANCHER_CA_CERT",
	"RANCHER_INSECURE_SKIP_VERIFY", "RANCHER_ENVIRONMENTS", "RANCHER_CONCURRENCY",
	"AWS_CA_BUNDLE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_STS",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
	"CATTLE_ACCESS_KEY_FILE", "CATTLE_SECRET_KEY_FILE", "AWS_ACCESS_KEY_ID_FILE", "AWS_SECRET_ACCESS_KEY_FILE",
	"AWS_SESSION_TOKEN_FILE", "HTTPS_PROXY_FILE", "HTTP_PROXY_FILE", "RANCHER_CA_CERT_FILE",
}

// fromSecret are the keys the entry takes from a Rancher secret instead of an answer: the question that names the
// secret, the variable the plain answer sets, and the secret's target (its file under /run/secrets/, which
// <variable>_FILE names). other: only with Registry Environment = other (with current, Rancher injects the key).
var fromSecret = []struct {
	question, variable, target string
	other                      bool
}{
	{"aws_access_key_id_from_secret", "AWS_ACCESS_KEY_ID", "aws_access_key_id", false},
	{"aws_secret_access_key_from_secret", "AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", false},
	{"aws_session_token_from_secret", "AWS_SESSION_TOKEN", "aws_session_token", false},
	{"https_proxy_from_secret", "HTTPS_PROXY", "https_proxy", false},
	{"http_proxy_from_secret", "HTTP_PROXY", "http_proxy", false},
	{"rancher_ca_cert_from_secret", "RANCHER_CA_CERT", "rancher_ca_cert", false},
	{"environment_api_access_key_from_secret", "CATTLE_ACCESS_KEY", "cattle_access_key", true},
	{"environment_api_secret_key_from_secret", "CATTLE_SECRET_KEY", "cattle_secret_key", true},
}

// envFromAnswer: the variables the catalog sets in every case, and the answer each carries.
var envFromAnswer = map[string]string{
	"AWS_ACCESS_KEY_ID":     "aws_access_key_id",
	"AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
	"AWS_SESSION_TOKEN":     "aws_session_token",
	"AWS_REGION":            "aws_region",
	"AWS_ROLE_ARN":          "aws_role_arn",
	"AWS_ECR_REGISTRY_IDS":  "aws_ecr_registry_ids",
	"ECR_REGIONS":           "ecr_regions",
	"AUTO_CREATE":           "auto_create",
	"UPDATE_INTERVAL":       "update_interval",
	"DRY_RUN":               "dry_run",
	"EVENTS":                "events",
	"DISCOVER_REGISTRIES":   "discover_registries",
	"LOG_LEVEL":             "log_level",
	"LOG_FORMAT":            "log_format",
	"HTTP_PROXY":            "http_proxy",
	"HTTPS_PROXY":           "https_proxy",
	"NO_PROXY":              "no_proxy",
	"RANCHER_TIMEOUT":       "rancher_timeout",
	"ECR_TIMEOUT":           "ecr_timeout",
	"RANCHER_CA_CERT":       "rancher_ca_cert",
}

// envFromAnswerOther: set only when registry_in_which_environment is "other".
var envFromAnswerOther = map[string]string{
	"CATTLE_URL":           "environment_api_endpoint",
	"CATTLE_ACCESS_KEY":    "environment_api_access_key",
	"CATTLE_SECRET_KEY":    "environment_api_secret_key",
	"RANCHER_ENVIRONMENTS": "rancher_environments",
}

const (
	labelCreateAgent = "io.rancher.container.create_agent"
	labelAgentRole   = "io.rancher.container.agent.role"
	labelPullImage   = "io.rancher.container.pull_image"
)

// tplFiles lists every *.tpl under the catalog.
func tplFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tpl") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no *.tpl under catalog/")
	}
	sort.Strings(out)
	return out
}

// allVersionFolders lists every version folder of every entry of a kind.
func allVersionFolders(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dirs, err := versionFolders(filepath.Join(root, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, dirs...)
	}
	if len(out) == 0 {
		t.Fatalf("no version folders under %s", root)
	}
	return out
}

func loadFolder(t *testing.T, dir string) *versionFolder {
	t.Helper()
	vf, err := loadVersionFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return vf
}

func reportAll(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

// trickyAnswers gives every question an answer that differs from its default and would
// break a naive (textual) interpolation: YAML indicators, a $ that must not be expanded
// again, template braces that must not be evaluated.
func trickyAnswers(qs []question) map[string]string {
	a := map[string]string{}
	for _, q := range qs {
		switch q.Type {
		case "boolean":
			a[q.Variable] = "true"
		case "enum":
			a[q.Variable] = q.Options[len(q.Options)-1]
		default:
			a[q.Variable] = q.Variable + `: #value $HOME {{.Values.image}} 'q' "qq"`
		}
	}
	a["image"] = "registry.example.com/ops/ecr-updater:v1.0.0-test"
	a["aws_region"] = "eu-west-3"
	a["update_interval"] = "45m"
	return a
}

type renderCase struct {
	name    string
	answers func(qs []question) map[string]string
	other   bool // registry_in_which_environment = other semantics expected
}

var renderCases = []renderCase{
	{"current", func(qs []question) map[string]string {
		a := trickyAnswers(qs)
		a["registry_in_which_environment"] = "current"
		// A stack in its own environment leaves the Environment API answers empty.
		a["environment_api_endpoint"], a["environment_api_access_key"], a["environment_api_secret_key"] = "", "", ""
		return answersFor(qs, a)
	}, false},
	{"other", func(qs []question) map[string]string {
		a := trickyAnswers(qs)
		a["registry_in_which_environment"] = "other"
		a["environment_api_endpoint"] = "https://rancher.example.com/v2-beta/projects/1a5"
		a["environment_api_access_key"] = "0123456789ABCDEF0123"
		a["environment_api_secret_key"] = "s3cr3t/with+chars: #and $dollar"
		return answersFor(qs, a)
	}, true},
	{"optional answers empty", func(qs []question) map[string]string {
		a := map[string]string{}
		for _, q := range qs {
			if !q.Required {
				a[q.Variable] = ""
			}
		}
		return answersFor(qs, a)
	}, false},
	{"old v2.0.1 answers", func(qs []question) map[string]string {
		// What a stack or environment template made for ECR Credential Updater v2.0.1 holds.
		return answersFor(qs, map[string]string{
			"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "old-secret",
			"aws_region": "us-east-1", "auto_create": "false", "log_level": "INFO",
			"registry_in_which_environment": "current", "environment_api_endpoint": "",
			"environment_api_access_key": "", "environment_api_secret_key": "",
		})
	}, false},
	{"registry environment empty", func(qs []question) map[string]string {
		// Not possible from the UI (required enum); through the API it must not lose the key.
		return answersFor(qs, map[string]string{"registry_in_which_environment": ""})
	}, false},
	{"current, keys from secrets", func(qs []question) map[string]string {
		return answersFor(qs, map[string]string{"registry_in_which_environment": "current",
			"aws_access_key_id_from_secret": "ecr-aws-key-id", "aws_secret_access_key_from_secret": "ecr-aws-secret-key",
			// Only for other: not mounted with current.
			"environment_api_secret_key_from_secret": "ignored-with-current"})
	}, false},
	{"other, keys from secrets", func(qs []question) map[string]string {
		return answersFor(qs, map[string]string{"registry_in_which_environment": "other",
			"environment_api_endpoint":               "https://rancher.example.com/v2-beta/projects/1a7",
			"environment_api_access_key":             "0123456789ABCDEF0123",
			"environment_api_secret_key_from_secret": "windows-env-api-secret", "aws_secret_access_key_from_secret": "ecr-aws-secret-key",
			"aws_access_key_id": "AKIAEXAMPLE", "https_proxy_from_secret": "proxy-with-password"})
	}, true},
	{"current, image not pulled at every start", func(qs []question) map[string]string {
		return answersFor(qs, map[string]string{"registry_in_which_environment": "current", "pull_image": "false"})
	}, false},
	{"other, image not pulled at every start", func(qs []question) map[string]string {
		// No label at all: labels: must not be left empty (null).
		return answersFor(qs, map[string]string{"registry_in_which_environment": "other", "pull_image": "false",
			"environment_api_endpoint": "https://rancher.example.com/v2-beta/projects/1a7", "environment_api_access_key": "0123456789ABCDEF0123"})
	}, true},
	{"other, no secrets", func(qs []question) map[string]string {
		a := trickyAnswers(qs)
		a["registry_in_which_environment"] = "other"
		for _, f := range fromSecret {
			a[f.question] = ""
		}
		return answersFor(qs, a)
	}, true},
}

// TestTemplatesRender renders every *.tpl as Rancher 1.6 does, in each case, and checks
// the service.
func TestTemplatesRender(t *testing.T) {
	for _, tpl := range tplFiles(t) {
		vf := loadFolder(t, filepath.Dir(tpl))
		qs := vf.Catalog.Questions
		text := vf.Files[filepath.Base(tpl)]
		for _, c := range renderCases {
			t.Run(tpl+"/"+c.name, func(t *testing.T) {
				answers := c.answers(qs)
				r, err := renderCompose(tpl, text, answers)
				if err != nil {
					t.Fatal(err)
				}
				checkRenderedService(t, r, answers, c.other)
			})
		}
	}
}

func checkRenderedService(t *testing.T, r *renderedCompose, answers map[string]string, other bool) {
	t.Helper()
	svc, ok := r.Services[serviceName]
	if !ok {
		t.Fatalf("no service %s in\n%s", serviceName, r.Text)
	}
	if len(r.Services) != 1 {
		t.Errorf("services %v, want only %s", keys(r.Services), serviceName)
	}
	if svc["image"] != answers["image"] {
		t.Errorf("image %#v, want the answer %q", svc["image"], answers["image"])
	}
	env, ok := svc["environment"].(map[string]any)
	if !ok {
		t.Fatalf("environment is not a map: %#v", svc["environment"])
	}
	for k, v := range env {
		if !contains(daemonEnv, k) {
			t.Errorf("environment %s is not a variable ecr-updater reads", k)
		}
		// A null value would make Docker drop the variable or take it from elsewhere.
		if _, ok := v.(string); !ok {
			t.Errorf("environment %s = %#v, want a string", k, v)
		}
	}
	want := map[string]string{"LISTEN_PORT": "8080"}
	for envVar, q := range envFromAnswer {
		want[envVar] = answers[q]
	}
	if other {
		for envVar, q := range envFromAnswerOther {
			want[envVar] = answers[q]
		}
	}
	// A key from a Rancher secret: its file, not its variable.
	mounts := map[string]string{} // target -> secret name
	for _, f := range fromSecret {
		if name := answers[f.question]; name != "" && (other || !f.other) {
			delete(want, f.variable)
			want[f.variable+"_FILE"] = "/run/secrets/" + f.target
			mounts[f.target] = name
		}
	}
	checkSecrets(t, r, svc, env, mounts)
	for envVar, w := range want {
		got, ok := env[envVar]
		if !ok {
			t.Errorf("environment lacks %s", envVar)
		} else if got != w {
			t.Errorf("environment %s = %#v, want %q", envVar, got, w)
		}
	}
	for k := range env {
		if _, ok := want[k]; !ok {
			t.Errorf("environment has %s = %#v, not expected in this case", k, env[k])
		}
		if !other && (strings.HasPrefix(k, "CATTLE_") || k == "RANCHER_ENVIRONMENTS") {
			t.Errorf("registry environment current: %s must not be set (Rancher injects the agent key)", k)
		}
	}
	labels, ok := svc["labels"].(map[string]any)
	if raw, present := svc["labels"]; present && !ok {
		t.Fatalf("labels is not a map: %#v", raw)
	}
	// Pull Image at Every Start: always unless answered false (an image in ECR, pulled beforehand on the hosts).
	if pull := answers["pull_image"] != "false"; pull && labels[labelPullImage] != "always" {
		t.Errorf("%s = %#v, want always (pull_image %q)", labelPullImage, labels[labelPullImage], answers["pull_image"])
	} else if v, set := labels[labelPullImage]; !pull && set {
		t.Errorf("%s = %#v with pull_image false, want no such label", labelPullImage, v)
	}
	if other {
		for _, l := range []string{labelCreateAgent, labelAgentRole} {
			if v, ok := labels[l]; ok {
				t.Errorf("registry environment other: label %s = %#v must be absent", l, v)
			}
		}
	} else {
		if labels[labelCreateAgent] != "true" {
			t.Errorf("%s = %#v, want the string 'true'", labelCreateAgent, labels[labelCreateAgent])
		}
		if labels[labelAgentRole] != "environment" {
			t.Errorf("%s = %#v, want environment", labelAgentRole, labels[labelAgentRole])
		}
	}
}

// checkSecrets checks the Rancher secrets the service mounts against mounts (target -> secret name): each mounted
// once, readable by the image's user, named at the top level as external, and named by the _FILE variable of its
// key; nothing at all when mounts is empty (the entry then works without the Rancher Secrets stack).
func checkSecrets(t *testing.T, r *renderedCompose, svc, env map[string]any, mounts map[string]string) {
	t.Helper()
	uid, gid := imageUser(t)
	top, _ := r.Doc["secrets"].(map[string]any)
	if len(mounts) == 0 {
		if _, ok := svc["secrets"]; ok {
			t.Errorf("secrets mounted with no secret named: %#v", svc["secrets"])
		}
		if _, ok := r.Doc["secrets"]; ok {
			t.Errorf("top-level secrets with no secret named: %#v", r.Doc["secrets"])
		}
		return
	}
	list, ok := svc["secrets"].([]any)
	if !ok {
		t.Fatalf("service secrets %#v, want a list of %d", svc["secrets"], len(mounts))
	}
	seen := map[string]bool{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			t.Errorf("secret %#v is not a source/target map", item)
			continue
		}
		target, _ := m["target"].(string)
		if seen[target] || mounts[target] == "" || m["source"] != mounts[target] {
			t.Errorf("secret %#v: want each of %v once", m, mounts)
		}
		seen[target] = true
		// Rancher's default is uid 0 and 0444; the entry gives the file to the image's user alone.
		if m["uid"] != uid || m["gid"] != gid || m["mode"] != "0400" {
			t.Errorf("secret %s: uid %#v gid %#v mode %#v, want %s, %s and '0400' (the image's user reads it, no one else)",
				target, m["uid"], m["gid"], m["mode"], uid, gid)
		}
		if ext, _ := top[mounts[target]].(map[string]any); ext["external"] != true {
			t.Errorf("secret %q is not declared external at the top level: %#v", mounts[target], r.Doc["secrets"])
		}
		// The mount and the variable agree.
		var file string
		for k, v := range env {
			if v == "/run/secrets/"+target && strings.HasSuffix(k, "_FILE") {
				file = k
			}
		}
		if file == "" {
			t.Errorf("secret %s is mounted, but no _FILE variable names /run/secrets/%s", target, target)
		}
	}
	if len(seen) != len(mounts) || len(top) != len(mounts) {
		t.Errorf("mounted %v, top-level %v; want %v", list, top, mounts)
	}
}

// imageUser is the user and group the image runs as (the Dockerfile's USER).
func imageUser(t *testing.T) (uid, gid string) {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("the Dockerfile has no USER uid:gid")
	}
	return m[1], m[2]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRancherComposeRenders renders each version folder's rancher-compose.yml too
// (Rancher templates and interpolates it as well) and checks the service's scale,
// health check and upgrade strategy, and that it only names services of the docker-compose
// file (rancher/rancher#8781: otherwise the catalog stack fails to deploy).
func TestRancherComposeRenders(t *testing.T) {
	for _, dir := range allVersionFolders(t, infraRoot) {
		t.Run(dir, func(t *testing.T) {
			vf := loadFolder(t, dir)
			answers := answersFor(vf.Catalog.Questions, nil)
			rc, err := renderCompose("rancher-compose.yml", vf.Files["rancher-compose.yml"], answers)
			if err != nil {
				t.Fatal(err)
			}
			name, text, _ := vf.dockerCompose()
			dc, err := renderCompose(name, text, answers)
			if err != nil {
				t.Fatal(err)
			}
			for s := range rc.Services {
				if _, ok := dc.Services[s]; !ok {
					t.Errorf("rancher-compose.yml configures %s, which %s does not define", s, name)
				}
			}
			svc, ok := rc.Services[serviceName]
			if !ok {
				t.Fatalf("rancher-compose.yml has no %s service", serviceName)
			}
			reportAll(t, checkRancherService(svc))
		})
	}
}

func TestRancherServiceCheckCatchesBrokenHealthCheck(t *testing.T) {
	broken := map[string]any{
		"scale": 2,
		"health_check": map[string]any{
			"port": 80, "request_line": "GET /ping HTTP/1.0", "interval": 1000, "response_timeout": 5000,
			"healthy_threshold": 2, "unhealthy_threshold": 0, "initializing_timeout": 500,
			"reinitializing_timeout": 500, "strategy": "none",
		},
	}
	errs := checkRancherService(broken)
	for _, want := range []string{"scale", "port", "request_line", "unhealthy_threshold", "shorter than interval",
		"minimum is 2000", "initializing_timeout", "strategy", "upgrade_strategy"} {
		if !anyContains(errs, want) {
			t.Errorf("no error about %q in %v", want, errs)
		}
	}
	if errs := checkRancherService(map[string]any{}); len(errs) == 0 {
		t.Error("an empty service passed")
	}
}

// TestQuestions checks every version folder's questions, and that the questions of the
// old ECR Credential Updater v2.0.1 are all there with the same variables.
func TestQuestions(t *testing.T) {
	for _, dir := range allVersionFolders(t, infraRoot) {
		t.Run(dir, func(t *testing.T) {
			vf := loadFolder(t, dir)
			if len(vf.Catalog.Questions) == 0 {
				t.Fatal("no questions")
			}
			reportAll(t, checkQuestions(vf.Catalog.Questions))
		})
	}

	vf, err := defaultVersionFolder(ourEntry)
	if err != nil {
		t.Fatal(err)
	}
	byVar := map[string]question{}
	for _, q := range vf.Catalog.Questions {
		byVar[q.Variable] = q
	}
	want := []struct {
		variable, typ, def string
		options            []string
	}{
		// The old entry's questions (variable names kept for drop-in answers).
		{"aws_access_key_id", "string", "", nil},
		{"aws_secret_access_key", "password", "", nil},
		{"aws_region", "string", "us-east-1", nil},
		{"auto_create", "boolean", "false", nil},
		{"log_level", "enum", "info", []string{"debug", "info", "warn", "error"}},
		{"registry_in_which_environment", "enum", "current", []string{"current", "other"}},
		{"environment_api_endpoint", "string", "", nil},
		{"environment_api_access_key", "string", "", nil},
		{"environment_api_secret_key", "password", "", nil},
		// New ones.
		{"update_interval", "string", "6h", nil},
		{"aws_ecr_registry_ids", "string", "", nil},
		{"ecr_regions", "string", "", nil},
		{"dry_run", "boolean", "false", nil},
		{"events", "boolean", "true", nil},
		{"discover_registries", "boolean", "false", nil},
		{"aws_role_arn", "string", "", nil},
		{"aws_session_token", "password", "", nil},
		{"image", "string", "ecr-updater/ecr-updater:v1.0.0", nil},
		{"pull_image", "boolean", "true", nil},
	}
	for _, f := range fromSecret {
		want = append(want, struct {
			variable, typ, def string
			options            []string
		}{f.question, "string", "", nil})
		if d := byVar[f.question].Description; !strings.Contains(d, "/run/secrets/"+f.target) || !strings.Contains(d, "Rancher Secrets") ||
			f.other != strings.Contains(byVar[f.question].Label, "only for other") {
			t.Errorf("question %s does not say where the secret is mounted, that Rancher Secrets must run, or when it applies: %q %q",
				f.question, byVar[f.question].Label, d)
		}
	}
	for _, w := range want {
		q, ok := byVar[w.variable]
		if !ok {
			t.Errorf("no question %s", w.variable)
			continue
		}
		def, _ := q.defaultValue()
		if q.Type != w.typ || def != w.def {
			t.Errorf("question %s: type %q default %q, want %q %q", w.variable, q.Type, def, w.typ, w.def)
		}
		if w.options != nil && strings.Join(q.Options, ",") != strings.Join(w.options, ",") {
			t.Errorf("question %s: options %q, want %q", w.variable, q.Options, w.options)
		}
	}
	if d := byVar["log_level"].Description; !strings.Contains(d, "INFO") {
		t.Errorf("log_level description should say INFO is accepted: %q", d)
	}
	for _, v := range []string{"environment_api_endpoint", "environment_api_access_key"} {
		d := byVar[v].Description
		for _, must := range []string{"API -> Keys", "Advanced Options"} {
			if !strings.Contains(d, must) {
				t.Errorf("%s description does not say where to find it (%q): %q", v, must, d)
			}
		}
	}
	// Issue 18: an instance role behind a proxy needs the metadata service reached directly; the image is not kept
	// where the credentials this service refreshes are needed to pull it.
	if d := byVar["no_proxy"].Description; !strings.Contains(d, "169.254.169.254") || !strings.Contains(d, "instance role") {
		t.Errorf("no_proxy description does not name 169.254.169.254 for an instance role: %q", d)
	}
	if d := byVar["image"].Description; !strings.Contains(d, "make image-push") || !strings.Contains(d, "not in ECR") {
		t.Errorf("image description does not say how to push it and not to keep it in ECR: %q", d)
	}
	if d := byVar["pull_image"].Description; !strings.Contains(d, "ECR") || !strings.Contains(d, "12 hours") {
		t.Errorf("pull_image description does not say when to turn it off: %q", d)
	}
	if d := byVar["environment_api_endpoint"].Description; !strings.Contains(d, "https://rancher.example.com/v2-beta/projects/1a5") {
		t.Errorf("environment_api_endpoint description lacks an example endpoint: %q", d)
	}
}

func TestQuestionCheckCatchesBrokenQuestions(t *testing.T) {
	var qs []question
	src := `
- {variable: region, label: Region, description: d, type: string, default: us-east-1}
- {variable: region, label: Region again, description: d, type: string}
- {variable: level, label: Level, description: d, type: enum, default: INFO, options: [debug, info]}
- {variable: flag, label: Flag, description: d, type: boolean, default: "yes"}
- {variable: flag2, label: Flag2, description: d, type: boolean}
- {variable: api_secret_key, label: Secret, description: d, type: string}
- {variable: aws_session_token, label: Token, description: d, type: multiline}
- {variable: pw, label: PW, description: d, type: password, default: hunter2}
- {variable: kind, label: Kind, description: d, type: dropdown}
- {variable: "bad name", label: B, description: d, type: string}
- {variable: nolabel, type: string}
- {variable: noopts, label: N, description: d, type: enum, required: true}
- {variable: api_secret_key_from_secret, label: "API Secret Key from a Rancher secret (name)", description: d, type: password}
- {variable: token_from_secret, label: Token secret, description: d, type: string}
- {variable: key_from_secret, label: "Key from a Rancher secret (name)", description: d, type: string}
`
	if err := yaml.Unmarshal([]byte(src), &qs); err != nil {
		t.Fatal(err)
	}
	errs := checkQuestions(qs)
	for _, want := range []string{
		`"region": variable used by more than one`,
		`"level": default "INFO" is not one of the options`,
		`"flag": boolean default`,
		`"flag2": boolean default`,
		`"api_secret_key": looks secret`,
		`"aws_session_token": looks secret`,
		`"pw": a password question must not have a default`,
		`"kind": unknown type`,
		`"bad name": variable must be a name`,
		`"nolabel": needs a label`,
		`"noopts": enum without options`,
		`"noopts": a required enum needs a default`,
		`"api_secret_key_from_secret": names a Rancher secret: type string (or secret), not "password"`,
		`"token_from_secret": names a Rancher secret, and its label should say so`,
	} {
		if !anyContains(errs, want) {
			t.Errorf("no error %q in:\n%v", want, errs)
		}
	}
	if anyContains(errs, `"key_from_secret"`) {
		t.Errorf("a good question naming a Rancher secret was refused:\n%v", errs)
	}
}

// TestReferencesHaveQuestions: every ${var} and .Values.var of a version folder's compose
// files is a question, and every question is used.
func TestReferencesHaveQuestions(t *testing.T) {
	for _, dir := range allVersionFolders(t, infraRoot) {
		t.Run(dir, func(t *testing.T) {
			vf := loadFolder(t, dir)
			files := map[string]string{}
			for _, name := range vf.composeFileNames() {
				files[name] = vf.Files[name]
			}
			reportAll(t, checkReferences(files, vf.Catalog.Questions))
		})
	}
}

func TestReferenceCheckCatchesUnaskedVariables(t *testing.T) {
	qs := []question{{Variable: "asked"}, {Variable: "unused"}}
	files := map[string]string{"docker-compose.yml.tpl": `
# ${in_a_comment} is not used
svc:
  image: ${asked}
  environment:
    A: ${nope}
    B: $bare
    C: ${with:-default}
    D: $$literal
{{- if eq .Values.missing "x" }}
    E: x
{{- end }}
{{- if eq (index .Values "also_missing") "y" }}{{ end }}
`}
	errs := checkReferences(files, qs)
	for _, want := range []string{"${nope} has no question", "${bare} has no question", "${with:-default} is not a form",
		".Values.missing has no question", ".Values.also_missing has no question", `question "unused" is used by no`} {
		if !anyContains(errs, want) {
			t.Errorf("no error %q in:\n%v", want, errs)
		}
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), "in_a_comment") || strings.Contains(e.Error(), "literal") || strings.Contains(e.Error(), "${asked}") {
			t.Errorf("unexpected error %v", e)
		}
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"a": "A", "b_2": "B", "dollar": "$a ${b_2}"}
	lookup := func(k string) string { return env[k] }
	for in, want := range map[string]string{
		"plain":          "plain",
		"${a}":           "A",
		"x${a}y$b_2.z":   "xAyB.z",
		"$$a and $${a}":  "$a and ${a}",
		"${unset}|$none": "|",
		"${dollar}":      "$a ${b_2}", // substituted text is not scanned again
		"$a$a":           "AA",
	} {
		got, err := interpolate(in, lookup)
		if err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${a:-default}", "${}", "${a", "end $", "$-", "${a b}", "$1"} {
		if got, err := interpolate(in, lookup); err == nil {
			t.Errorf("interpolate(%q) = %q, want an error", in, got)
		}
	}
}

func TestRenderRejectsWhatRancherWouldBreakOn(t *testing.T) {
	answers := map[string]string{"x": "1", "mode": "current"}
	for name, text := range map[string]string{
		"default syntax":   "svc:\n  image: ${x:-busybox}\n",
		"sprig function":   "svc:\n  image: {{ default \"busybox\" .Values.x }}\n",
		"unknown value":    "svc:\n  image: busybox\n{{- if eq .Values.nope \"other\" }}\n  tty: true\n{{- end }}\n",
		"not yaml":         "svc:\n  image: busybox\n {{ .Values.x }}: [\n",
		"escaped leftover": "svc:\n  image: busybox\n  environment:\n    A: $${x}\n",
		"version 2.1":      "version: '2.1'\nservices:\n  svc:\n    image: busybox\n",
	} {
		if _, err := renderCompose(name, text, answers); err == nil {
			t.Errorf("%s: rendered without error", name)
		}
	}
	r, err := renderCompose("ok", "# notemplating\nsvc:\n  image: \"{{x}}\"\n  environment:\n    A: ${x}\n", answers)
	if err != nil {
		t.Fatal(err)
	}
	if r.Services["svc"]["image"] != "{{x}}" || r.Services["svc"]["environment"].(map[string]any)["A"] != "1" || !r.Refs["x"] {
		t.Errorf("notemplating file rendered wrong: %#v", r.Services)
	}
}

// TestEntries checks config.yml, the icon and the version folders of every entry.
func TestEntries(t *testing.T) {
	for root, infra := range map[string]bool{infraRoot: true, projectRoot: false} {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				t.Errorf("%s/%s: only entry folders belong there", root, e.Name())
				continue
			}
			dir := filepath.Join(root, e.Name())
			t.Run(dir, func(t *testing.T) { reportAll(t, checkEntry(dir, infra)) })
		}
	}
}

func TestEntryCheckCatchesBrokenEntry(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.yml", "name: X\nversion: v2\nmaintainer: the team\n")
	write("catalogIcon-x.svg", "<html></html>")
	write("1/rancher-compose.yml", ".catalog:\n  name: X\n  version: v1\n  minimum_rancher_version: v1.6.0\n")
	errs := checkEntry(dir, true)
	for _, want := range []string{"needs name, description", "category, maintainer", "not in the form Name <email>", "not svg", "start at 0",
		"minimum_rancher_version", "no docker-compose", "no README", "exactly one folder"} {
		if !anyContains(errs, want) {
			t.Errorf("no error %q in:\n%v", want, errs)
		}
	}
}

func TestCompareRancherVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"v1.6.13-rc1", "v1.6.13-rc1", 0},
		{"v1.6.13", "v1.6.13-rc1", 1},
		{"v1.6.13-rc2", "v1.6.13-rc1", 1},
		{"1.6.14", "v1.6.13-rc1", 1},
		{"v1.6.12", "v1.6.13-rc1", -1},
		{"v1.5.99", "v1.6.13-rc1", -1},
	} {
		if got, err := compareRancherVersions(c.a, c.b); err != nil || got != c.want {
			t.Errorf("compare(%s, %s) = %d, %v; want %d", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := compareRancherVersions("", minimumRancher); err == nil {
		t.Error("an empty version compared")
	}
}

// TestProjectTemplates checks every environment template, and renders our stack with
// the template's answers.
func TestProjectTemplates(t *testing.T) {
	for _, dir := range allVersionFolders(t, projectRoot) {
		t.Run(dir, func(t *testing.T) {
			var pt projectTemplate
			if err := readYAML(filepath.Join(dir, "project.yml"), &pt); err != nil {
				t.Fatal(err)
			}
			reportAll(t, checkProjectTemplate(pt, infraRoot))
			for _, s := range pt.Stacks {
				m := templateIDRE.FindStringSubmatch(s.TemplateID)
				if m == nil || m[1] != ourCatalogName {
					continue
				}
				vf, err := defaultVersionFolder(filepath.Join(infraRoot, m[2]))
				if err != nil {
					t.Fatal(err)
				}
				name, text, _ := vf.dockerCompose()
				// Rendered with the template's answers only (no defaults), as a worst case.
				answers := map[string]string{}
				for _, q := range vf.Catalog.Questions {
					answers[q.Variable] = s.Answers[q.Variable]
				}
				r, err := renderCompose(name, text, answers)
				if err != nil {
					t.Fatal(err)
				}
				checkRenderedService(t, r, answers, s.Answers["registry_in_which_environment"] == "other")
			}
		})
	}
}

func TestProjectTemplateCheckCatchesBrokenTemplate(t *testing.T) {
	var pt projectTemplate
	src := `
name: Broken
stacks:
  - name: network-services
    templateId: 'library:infra*network-services'
  - name: scheduler
    templateId: 'other-catalog:infra*scheduler'
  - name: healthcheck
    templateId: 'library:healthcheck'
  - name: ecr
    templateId: 'ecr-updater:infra*no-such-entry'
  - name: ecr2
    templateId: 'ecr-updater:infra*ecr-updater'
    answers:
      bogus: x
      log_level: verbose
      auto_create: 'yes'
      aws_secret_access_key: AKIA-in-a-file
`
	if err := yaml.Unmarshal([]byte(src), &pt); err != nil {
		t.Fatal(err)
	}
	errs := checkProjectTemplate(pt, infraRoot)
	for _, want := range []string{"needs name and description", `catalog "other-catalog"`, `"library:healthcheck" is not`,
		"no such infra-templates entry", `answer "bogus" has no question`, `log_level="verbose" is not one of`,
		`auto_create="yes" is not true or false`, "no secrets in a template file",
		`required question "image" has no answer`, "standard Cattle stack ipsec missing"} {
		if !anyContains(errs, want) {
			t.Errorf("no error %q in:\n%v", want, errs)
		}
	}
}

// TestRootComposeFiles checks /docker-compose.yml and /rancher-compose.yml, which run the
// updater outside the catalog.
func TestRootComposeFiles(t *testing.T) {
	dcText, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	rcText, err := os.ReadFile("../rancher-compose.yml")
	if err != nil {
		t.Fatal(err)
	}

	// Before interpolation: every daemon variable passed through from the shell as ${VAR}.
	var raw struct {
		Version  string `yaml:"version"`
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(dcText, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Version != "2" {
		t.Errorf("docker-compose.yml version %q, want '2' (Rancher 1.6 reads any other as v1)", raw.Version)
	}
	rawEnv := raw.Services[serviceName].Environment
	for _, v := range daemonEnv {
		got, ok := rawEnv[v]
		switch {
		case !ok:
			t.Errorf("docker-compose.yml does not pass %s", v)
		case v == "LISTEN_PORT":
			if got != "8080" {
				t.Errorf("LISTEN_PORT = %q, want 8080 (the port and the health check use it)", got)
			}
		case got != "${"+v+"}":
			t.Errorf("%s = %q, want ${%s}", v, got, v)
		}
	}
	for k := range rawEnv {
		if !contains(daemonEnv, k) {
			t.Errorf("docker-compose.yml sets %s, which ecr-updater does not read", k)
		}
	}

	shell := map[string]string{"CATTLE_URL": "https://rancher.example.com/v2-beta/projects/1a5", "AWS_REGION": "eu-west-1"}
	dc, err := renderCompose("docker-compose.yml", string(dcText), shell)
	if err != nil {
		t.Fatal(err)
	}
	svc, ok := dc.Services[serviceName]
	if !ok {
		t.Fatalf("docker-compose.yml has no %s service", serviceName)
	}
	env := svc["environment"].(map[string]any)
	if env["CATTLE_URL"] != shell["CATTLE_URL"] || env["AWS_REGION"] != "eu-west-1" || env["AWS_ROLE_ARN"] != "" {
		t.Errorf("pass-through wrong: %#v", env)
	}
	if img, _ := svc["image"].(string); !strings.HasPrefix(img, "ecr-updater/ecr-updater:") {
		t.Errorf("image %#v", svc["image"])
	}
	if svc["restart"] != "unless-stopped" {
		t.Errorf("restart %#v, want unless-stopped", svc["restart"])
	}
	if ports, _ := svc["ports"].([]any); len(ports) != 1 || !strings.HasSuffix(fmt.Sprint(ports[0]), ":8080") {
		t.Errorf("ports %#v, want 8080 published", svc["ports"])
	}
	// Compose format 2.0 (and Rancher 1.6) reject a healthcheck: key; the image's
	// HEALTHCHECK (/ecr-updater healthcheck) serves docker, rancher-compose.yml serves Rancher.
	if hc, ok := svc["healthcheck"]; ok {
		t.Errorf("healthcheck %#v: not allowed in compose format '2' nor by Rancher 1.6", hc)
	}
	if !strings.Contains(string(dcText), "/ecr-updater healthcheck") {
		t.Error("docker-compose.yml should say that the image's HEALTHCHECK runs /ecr-updater healthcheck")
	}
	// Keys from files: format '2' has no secrets:, so the file shows the read-only mount of a folder of key files
	// at /run/secrets, where the catalog's secrets are too, and the _FILE variable that names one.
	if _, ok := svc["secrets"]; ok || dc.Doc["secrets"] != nil {
		t.Error("docker-compose.yml uses secrets:, which compose file format '2' does not have")
	}
	for _, want := range []string{`volumes: ["./secrets:/run/secrets:ro"]`, "AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/aws_secret_access_key",
		"uid 65532"} {
		if !strings.Contains(string(dcText), want) {
			t.Errorf("docker-compose.yml does not show how to give keys in files: no %q", want)
		}
	}

	rc, err := renderCompose("rancher-compose.yml", string(rcText), shell)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Doc["version"] != "2" {
		t.Errorf("rancher-compose.yml version %#v, want '2'", rc.Doc["version"])
	}
	for s := range rc.Services {
		if _, ok := dc.Services[s]; !ok {
			t.Errorf("rancher-compose.yml configures %s, which docker-compose.yml does not define", s)
		}
	}
	rsvc, ok := rc.Services[serviceName]
	if !ok {
		t.Fatalf("rancher-compose.yml has no %s service", serviceName)
	}
	reportAll(t, checkRancherService(rsvc))
}

// TestReadmes: the operator documentation says what the brief of this catalog promises.
func TestReadmes(t *testing.T) {
	for file, musts := range map[string][]string{
		"README.md": {"Add Catalog", "ecr-updater:infra*ecr-updater", "Keeping a Windows environment's registries fresh",
			"API -> Keys", "Advanced Options", "Add Environment API Key", "v2-beta/projects/",
			"environment_api_endpoint", "environment_api_access_key", "environment_api_secret_key", "Branch",
			"Account API key", "GET /livez"},
		"infra-templates/ecr-updater/0/README.md": {"Registry Environment", "API -> Keys", "Advanced Options",
			"Add Environment API Key", "v2-beta/projects/", "Windows", "## Keeping keys out of sight", "Rancher Secrets",
			"Infrastructure -> Secrets", "rancher secrets create", "instance role", "read-only members",
			// Issue 18: the image to build and push, where not to keep it, one stack for many environments, the health
			// check that recreates only a wedged loop, an instance role from a container.
			"make image-push", "not in ECR", "Pull Image at Every Start", "Account API key", "GET /livez", "GET /healthz",
			"--http-put-response-hop-limit 2", "169.254.169.254", "## AWS permissions"},
		"project-templates/cattle-with-ecr-updater/0/README.md": {"ecr-updater:infra*ecr-updater"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, m := range musts {
			if !strings.Contains(string(b), m) {
				t.Errorf("%s does not mention %q", file, m)
			}
		}
	}
}

func anyContains(errs []error, s string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error(), s) {
			return true
		}
	}
	return false
}

func TestMaintainerForm(t *testing.T) {
	for s, want := range map[string]bool{
		"ecr-updater maintainers <ecr-updater@users.noreply.github.com>": true,
		"Jane Doe <jane@example.com>":                                    true,
		"Jane":                                                           false,
		"<jane@example.com>":                                             false,
		"jane@example.com":                                               false,
		"Jane <jane>":                                                    false,
		"Jane <jane@example.com":                                         false,
		"Jane <jane@example.com> extra":                                  false,
		"Jane  <jane@example.com>":                                       false,
	} {
		if got := maintainerRE.MatchString(s); got != want {
			t.Errorf("maintainer %q accepted %v, want %v", s, got, want)
		}
	}
}

// TestImageNamesAgree: `make image`, docker-compose.yml, the catalog's default answer and scripts/image.sh name
// the image the same way, ecr-updater/ecr-updater:<version>, and the compose file and the catalog name the
// catalog entry's version.
func TestImageNamesAgree(t *testing.T) {
	var cfg entryConfig
	if err := readYAML(filepath.Join(ourEntry, "config.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	want := "ecr-updater/ecr-updater:" + cfg.Version

	vf, err := defaultVersionFolder(ourEntry)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range vf.Catalog.Questions {
		if q.Variable == "image" {
			if def, _ := q.defaultValue(); def != want {
				t.Errorf("catalog default image %q, want %q", def, want)
			}
		}
	}
	dc, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(dc, &compose); err != nil {
		t.Fatal(err)
	}
	if got := compose.Services[serviceName].Image; got != want {
		t.Errorf("docker-compose.yml image %q, want %q", got, want)
	}
	script, err := os.ReadFile("../scripts/image.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `IMAGE=${IMAGE:-ecr-updater/ecr-updater:$(image_tag "$VERSION")}`) {
		t.Error("scripts/image.sh does not default to ecr-updater/ecr-updater:<version>")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed: the Makefile's image name is not checked")
	}
	out, err := exec.Command("make", "-s", "-C", "..", "image-name", "VERSION="+cfg.Version).CombinedOutput()
	if err != nil {
		t.Fatalf("make image-name: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("make image names the image %q, want %q", got, want)
	}
}

// iamPolicies returns the JSON code blocks of a Markdown file that hold an IAM policy (a "Statement").
func iamPolicies(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^ *```json\n(.*?)^ *```").FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], `"Statement"`) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestIAMPolicy: the README and the catalog entry's README show one IAM policy each, the same one, valid JSON,
// with the updater's action on every resource and the pull actions the hosts need (the token carries the
// identity's rights), and no other action (issue 18.4).
func TestIAMPolicy(t *testing.T) {
	type statement struct {
		Sid      string
		Effect   string
		Action   any
		Resource any
	}
	var first []statement
	for _, file := range []string{"../README.md", "infra-templates/ecr-updater/0/README.md"} {
		blocks := iamPolicies(t, file)
		if len(blocks) != 1 {
			t.Errorf("%s shows %d IAM policies, want exactly one", file, len(blocks))
			continue
		}
		var p struct {
			Version   string
			Statement []statement
		}
		dec := json.NewDecoder(strings.NewReader(blocks[0]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Errorf("%s: the IAM policy is not valid JSON of a policy: %v\n%s", file, err, blocks[0])
			continue
		}
		if p.Version != "2012-10-17" {
			t.Errorf("%s: policy version %q", file, p.Version)
		}
		actions := map[string]any{} // action -> its resource
		for _, st := range p.Statement {
			if st.Effect != "Allow" {
				t.Errorf("%s: statement %+v is not an Allow", file, st)
			}
			list, ok := st.Action.([]any)
			if !ok {
				list = []any{st.Action}
			}
			for _, a := range list {
				actions[fmt.Sprint(a)] = st.Resource
			}
		}
		want := []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer"}
		if got := keys(actions); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: the policy allows %q, want %q", file, got, want)
		}
		if r := actions["ecr:GetAuthorizationToken"]; r != "*" {
			t.Errorf("%s: ecr:GetAuthorizationToken on %#v, want * (it has no resource of its own)", file, r)
		}
		if first == nil {
			first = p.Statement
		} else if fmt.Sprint(first) != fmt.Sprint(p.Statement) {
			t.Errorf("the README's policy and %s's differ:\n%+v\n%+v", file, first, p.Statement)
		}
	}
}
