package main

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/standin"
)

// writeFile writes a key file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keysToFiles moves the keys of env into files (as Rancher mounts secrets), each with a trailing newline as
// `rancher secrets create NAME - <<< value` gives it, and returns the values moved.
func keysToFiles(t *testing.T, env map[string]string, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var moved []string
	for _, n := range names {
		v, ok := env[n]
		if !ok {
			t.Fatalf("no %s to move into a file", n)
		}
		delete(env, n)
		env[n+"_FILE"] = writeFile(t, dir, strings.ToLower(n), v+"\n")
		moved = append(moved, v)
	}
	return moved
}

// TestKeyFilesRefused runs `once` with one bad key file at a time: exit 2, a message that names the _FILE variable
// and the path (or both variables), never what the file holds, and not one request to Rancher or AWS.
func TestKeyFilesRefused(t *testing.T) {
	const content = "file-content-must-not-show-0123456789"
	dir := t.TempDir()
	good := writeFile(t, dir, "good", content+"\n")
	large := writeFile(t, dir, "large", strings.Repeat(content, 64<<10/len(content)+1))
	empty := writeFile(t, dir, "empty", "")
	newline := writeFile(t, dir, "newline", "\r\n")
	blank := writeFile(t, dir, "blank", " \t\n")
	locked := writeFile(t, dir, "locked", content)
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name  string
		unset string            // the plain variable the case replaces
		set   map[string]string // on top of the agent container's environment
		want  string
		root  bool // the case cannot fail for root (the test runs as root in CI containers)
	}{
		{"Rancher secret key in both", "", map[string]string{"CATTLE_SECRET_KEY_FILE": good},
			"CATTLE_SECRET_KEY and CATTLE_SECRET_KEY_FILE are both set", false},
		{"AWS secret key in both", "", map[string]string{"AWS_SECRET_ACCESS_KEY_FILE": good},
			"AWS_SECRET_ACCESS_KEY and AWS_SECRET_ACCESS_KEY_FILE are both set", false},
		{"lower-case proxy and its file", "", map[string]string{"https_proxy": "http://proxy.example:3128", "HTTPS_PROXY_FILE": good},
			"https_proxy and HTTPS_PROXY_FILE are both set", false},
		{"missing", "AWS_SECRET_ACCESS_KEY", map[string]string{"AWS_SECRET_ACCESS_KEY_FILE": missing},
			"AWS_SECRET_ACCESS_KEY_FILE: " + missing + " does not exist", false},
		{"permission denied", "CATTLE_SECRET_KEY", map[string]string{"CATTLE_SECRET_KEY_FILE": locked},
			"CATTLE_SECRET_KEY_FILE: cannot read " + locked + ": permission denied", true},
		// Read fails for everyone, root included: reading /proc/self/mem at offset 0 is an I/O error.
		{"read error", "AWS_ACCESS_KEY_ID", map[string]string{"AWS_ACCESS_KEY_ID_FILE": "/proc/self/mem"},
			"AWS_ACCESS_KEY_ID_FILE: cannot read /proc/self/mem: input/output error", false},
		{"directory", "CATTLE_ACCESS_KEY", map[string]string{"CATTLE_ACCESS_KEY_FILE": dir},
			"CATTLE_ACCESS_KEY_FILE: " + dir + " is a directory", false},
		{"not a regular file", "AWS_SECRET_ACCESS_KEY", map[string]string{"AWS_SECRET_ACCESS_KEY_FILE": "/dev/null"},
			"AWS_SECRET_ACCESS_KEY_FILE: /dev/null is not a regular file", false},
		{"empty", "AWS_ACCESS_KEY_ID", map[string]string{"AWS_ACCESS_KEY_ID_FILE": empty},
			"AWS_ACCESS_KEY_ID_FILE: " + empty + " is empty", false},
		{"only a newline", "", map[string]string{"HTTP_PROXY_FILE": newline}, "HTTP_PROXY_FILE: " + newline + " is empty", false},
		{"only white space", "CATTLE_SECRET_KEY", map[string]string{"CATTLE_SECRET_KEY_FILE": blank},
			"CATTLE_SECRET_KEY_FILE: " + blank + " is empty", false},
		{"larger than 64 KiB", "", map[string]string{"HTTPS_PROXY_FILE": large},
			"HTTPS_PROXY_FILE: " + large + " is larger than 64 KiB", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() == 0 {
				t.Skip("running as root, which reads a file of mode 0000 all the same; the read error case covers an unreadable file")
			}
			w := newE2E(t)
			env := w.env0()
			delete(env, c.unset)
			for k, v := range c.set {
				env[k] = v
			}
			code, out := daemon(t, env, "once")
			if code != exitConfig || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", code, c.want, out)
			}
			if strings.Contains(out, content) || strings.Contains(out, content[:20]) {
				t.Errorf("the message shows what the file holds:\n%s", out)
			}
			if n, m := w.rancher.RequestCount(), w.ecr.Calls(); n != 0 || m != 0 {
				t.Errorf("%d Rancher and %d AWS requests before the refusal", n, m)
			}
		})
	}
}

// TestKeyFileNewlines: a key file's content is the key, minus one trailing "\n" or "\r\n" and nothing else.
func TestKeyFileNewlines(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{
		"key-plain":            "key-plain",
		"key-lf\n":             "key-lf",
		"key-crlf\r\n":         "key-crlf",
		"key-two-lf\n\n":       "key-two-lf\n",
		"key-two-crlf\r\n\r\n": "key-two-crlf\r\n",
		"key-cr\r":             "key-cr\r",
		"key-lf-cr\n\r":        "key-lf-cr\n\r",
		" key-spaced \n":       " key-spaced ",
		"key\nin two lines\n":  "key\nin two lines",
	} {
		file := writeFile(t, dir, "f", content)
		env := with(map[string]string{"CATTLE_SECRET_KEY_FILE": file, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY_FILE": file})
		delete(env, "CATTLE_SECRET_KEY")
		s, out, err := loadWith(t, env)
		if err != nil {
			t.Errorf("%q: %v %s", content, err, out)
			continue
		}
		if got := s.updater.Rancher.SecretKey.Reveal(); got != want {
			t.Errorf("%q: Rancher secret key %q, want %q", content, got, want)
		}
		k := s.updater.ECR.Keys
		if k == nil || k.AccessKeyID != "AKIAEXAMPLE" || k.SecretAccessKey.Reveal() != want || !k.SessionToken.Empty() {
			t.Errorf("%q: AWS keys %+v", content, k)
		}
	}
	// Without any file, the AWS keys stay the SDK's to read, as before.
	s, out, err := loadWith(t, with(map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}))
	if err != nil || s.updater.ECR.Keys != nil || s.updater.Rancher.Proxy != nil {
		t.Errorf("keys without files: %v %s %+v", err, out, s.updater.ECR.Keys)
	}
}

// TestProxyPasswordsAreLearned: the user information of a proxy URL is taught to the scrubber, whichever variable
// or file it comes in, in every form it can be printed in.
func TestProxyPasswordsAreLearned(t *testing.T) {
	for raw, want := range map[string][]string{
		"http://me:pr0xy-p%40ss@proxy.example:3128": {"pr0xy-p@ss", "pr0xy-p%40ss", base64.StdEncoding.EncodeToString([]byte("me:pr0xy-p@ss"))},
		"me:pr0xy-pass@proxy.example:3128":          {"pr0xy-pass", base64.StdEncoding.EncodeToString([]byte("me:pr0xy-pass"))},
		"https://tok3n-as-user@proxy.example":       {"tok3n-as-user", base64.StdEncoding.EncodeToString([]byte("tok3n-as-user:"))},
	} {
		var got []string
		for _, s := range proxySecrets(raw) {
			got = append(got, s.Reveal())
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: secrets %q lack %q", raw, got, w)
			}
		}
	}
	for _, raw := range []string{"", "http://proxy.example:3128", "proxy.example:3128", "::bad"} {
		if got := proxySecrets(raw); len(got) != 0 {
			t.Errorf("%q: secrets %v, want none", raw, got)
		}
	}
	file := writeFile(t, t.TempDir(), "proxy", "http://me:from-a-file-pass@proxy.example:3128\n")
	for pass, env := range map[string]map[string]string{"upper-case-pass": {"HTTPS_PROXY": "http://me:upper-case-pass@proxy.example:3128"},
		"lower-case-pass": {"http_proxy": "http://me:lower-case-pass@proxy.example:3128"}, "from-a-file-pass": {"HTTP_PROXY_FILE": file}} {
		s, out, err := loadWith(t, with(env))
		if err != nil {
			t.Fatalf("%v: %v %s", env, err, out)
		}
		if line := s.scrubber.Scrub("proxy " + pass); line != "proxy "+redact.Marker {
			t.Errorf("%v: not scrubbed: %q", env, line)
		}
	}
}

// TestKeysFromFiles: with every key in a file (temporary AWS keys with their session token, the Rancher key, an HTTP
// proxy URL with a password), `once` at debug level with go-rancher's debug switch on works as with the variables,
// through the proxy of the file, and prints none of them; long-term keys from files are the base of AWS_ROLE_ARN;
// --dry-run writes nothing.
func TestKeysFromFiles(t *testing.T) {
	w := newE2E(t)
	reg := w.rancher.AddRegistry(w.env, host("us-east-1"), "active")
	cred := w.rancher.AddCredential(w.env, reg, "AWS", "stale", "active")
	const role = "arn:aws:iam::" + account + ":role/ecr-pull"
	w.ecr.AddRole(role)
	// Temporary keys, as an operator would get them from STS.
	stsClient := sts.NewFromConfig(w.ecr.AWSConfig("us-east-1", credentials.NewStaticCredentialsProvider(awsKeyID, awsSecret, "")))
	temp, err := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, role)).Retrieve(context.Background())
	if err != nil || temp.SessionToken == "" {
		t.Fatalf("temporary keys: %v", err)
	}
	_, rport, _ := net.SplitHostPort(hostPort(w.rancher.URL))
	_, eport, _ := net.SplitHostPort(hostPort(w.ecr.URL))
	rancherName, ecrName := "rancher.proxied.test:"+rport, "ecr.proxied.test:"+eport
	proxy := standin.NewProxy(map[string]string{rancherName: hostPort(w.rancher.URL), ecrName: hostPort(w.ecr.URL)})
	defer proxy.Close()
	const proxyPass = "proxy-password-from-file-42"
	proxyURL := strings.Replace(proxy.URL, "http://", "http://ops:"+proxyPass+"@", 1)

	files := func(id, secret, token string) map[string]string {
		env := w.env0()
		env["CATTLE_URL"], env["AWS_ENDPOINT_URL_ECR"], env["AWS_ENDPOINT_URL_STS"] = "http://"+rancherName+"/v1", "http://"+ecrName, "http://"+ecrName
		env["NO_PROXY"] = "169.254.169.254"
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["HTTP_PROXY"] = id, secret, proxyURL
		names := []string{"CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HTTP_PROXY"}
		if token != "" {
			env["AWS_SESSION_TOKEN"] = token
			names = append(names, "AWS_SESSION_TOKEN")
		}
		keysToFiles(t, env, names...)
		return env
	}
	var outputs []string
	for _, format := range []string{"text", "json"} {
		env := files(temp.AccessKeyID, temp.SecretAccessKey, temp.SessionToken)
		env["LOG_LEVEL"], env["LOG_FORMAT"], env["RANCHER_CLIENT_DEBUG"] = "debug", format, "true"
		code, out := daemon(t, env, "once")
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", format, code, out)
		}
		outputs = append(outputs, out)
	}
	if c, _ := w.rancher.Credential(cred); c.Writes != 2 {
		t.Errorf("credential written %d times, want 2", c.Writes)
	}
	if hosts := proxy.Hosts(); hosts[rancherName] == 0 || hosts[ecrName] == 0 {
		t.Errorf("the proxy of the file was not used: %v", hosts)
	}
	if !strings.Contains(outputs[0], `aws_secret_access_key="[REDACTED] (file `) || !strings.Contains(outputs[0], `cattle_secret_key="[REDACTED] (file `) {
		t.Errorf("the start line does not say the keys came from files:\n%s", outputs[0])
	}

	// Long-term keys from files, and the role assumed with them.
	env := files(awsKeyID, awsSecret, "")
	env["AWS_ROLE_ARN"], env["LOG_LEVEL"] = role, "debug"
	assumed := len(w.ecr.Assumptions())
	code, out := daemon(t, env, "once")
	// One AssumeRole operation: the SDK sends a request again, with the same invocation id, when its connection
	// dropped (on a loaded machine it did), and STS may have answered the first one.
	ops := map[string]bool{}
	for _, a := range w.ecr.Assumptions()[assumed:] {
		if a.RoleARN != role || a.Invocation == "" {
			t.Errorf("assumed %+v, want %s by an SDK operation", a, role)
		}
		ops[a.Invocation] = true
	}
	if code != 0 || len(ops) != 1 || !strings.Contains(out, `source="assumed role (AWS_ROLE_ARN)"`) {
		t.Fatalf("with AWS_ROLE_ARN: exit %d, %d AssumeRole operations (%v), want 1:\n%s", code, len(ops), w.ecr.Assumptions()[assumed:], out)
	}
	outputs = append(outputs, out)
	code, out = daemon(t, files(awsKeyID, awsSecret, ""), "--dry-run", "once")
	if c, _ := w.rancher.Credential(cred); code != 0 || c.Writes != 3 || !strings.Contains(out, "DRY_RUN is on") {
		t.Errorf("--dry-run: exit %d, writes %d:\n%s", code, c.Writes, out)
	}
	outputs = append(outputs, out)

	all := strings.Join(outputs, "\n")
	secrets := []string{envSecret, awsSecret, temp.SecretAccessKey, temp.SessionToken, proxyPass,
		base64.StdEncoding.EncodeToString([]byte("ops:" + proxyPass))}
	for _, is := range w.ecr.Issued() {
		secrets = append(secrets, is.Password, is.Token)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("output contains a secret (%d chars, starts %q)", len(s), s[:4])
		}
	}
	if !strings.Contains(all, "level=debug") || !strings.Contains(all, `"level":"debug"`) || strings.Contains(all, "Request =>") {
		t.Error("not a debug run without go-rancher's debug output")
	}
	if !strings.Contains(all, redact.Marker) {
		t.Error("no secret was even redacted")
	}
}

// FuzzProxySecrets: no proxy URL, however malformed, makes reading the keys panic.
func FuzzProxySecrets(f *testing.F) {
	for _, s := range []string{"http://me:pw@proxy:3128", "me:pw@proxy", "http://a@b@c/d?e@f#g@h", "http://[::1]:80", "::", "@", "http://@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) { proxySecrets(raw) })
}
