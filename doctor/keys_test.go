package doctor

import (
	"strings"
	"testing"
)

// TestKeyChecks: where each key came from, and when a key in a plain variable is a warning. A Rancher key that
// Rancher made for the container through the agent labels (kind environment, projectadmin or agent) is not; an
// Environment or Account API key an operator put in the variable is; when Rancher did not answer, the warning says
// that the kind is not known.
func TestKeyChecks(t *testing.T) {
	const fix = "use THE_KEY_FILE with a Rancher secret"
	file := Key{Line: LineRancherSecretKey, From: "file /run/secrets/cattle_secret_key (CATTLE_SECRET_KEY_FILE)", Rancher: true}
	plain := Key{Line: LineRancherSecretKey, From: "variable CATTLE_SECRET_KEY", Exposed: true, Fix: fix, Rancher: true}
	id := Key{Line: LineRancherAccessKey, From: "variable CATTLE_ACCESS_KEY", Rancher: true}
	aws := Key{Line: LineAWSSecretKey, From: "variable AWS_SECRET_ACCESS_KEY", Exposed: true, Fix: fix}
	chain := Key{Line: LineAWSSecretKey}
	for _, c := range []struct {
		name     string
		key      Key
		kind     string
		answered bool
		source   string
		result   Result
		detail   string
	}{
		{"file", file, "project", true, "", OK, "file /run/secrets/cattle_secret_key (CATTLE_SECRET_KEY_FILE)"},
		{"agent labels, role environment", plain, "environment", true, "", OK,
			"variable CATTLE_SECRET_KEY, a key Rancher made for this container (agent labels; key kind environment)"},
		{"agent labels, role environmentAdmin", plain, "projectadmin", true, "", OK, "a key Rancher made for this container"},
		{"agent", plain, "agent", true, "", OK, "a key Rancher made for this container"},
		{"agent labels, access key", id, "environment", true, "", OK, "variable CATTLE_ACCESS_KEY, a key Rancher made for this container"},
		{"Environment API key", plain, "project", true, "", Warn, "variable CATTLE_SECRET_KEY: " + exposed},
		{"Account API key", plain, "user", true, "", Warn, "variable CATTLE_SECRET_KEY: " + exposed},
		{"Rancher did not answer", plain, "", false, "", Warn, "unless Rancher made the key for this container through the agent labels (Rancher did not answer: the key's kind is not known)"},
		{"AWS secret key in a variable", aws, "environment", true, "", Warn, "variable AWS_SECRET_ACCESS_KEY: " + exposed},
		{"the SDK's chain", chain, "", true, "instance role (EC2 instance metadata)", OK,
			"none in the configuration; the AWS SDK's chain found: instance role (EC2 instance metadata)"},
		{"nothing anywhere", chain, "", true, "", OK, "none in the configuration, and the AWS SDK's chain found none"},
	} {
		got := keyChecks([]Key{c.key}, c.kind, c.answered, c.source)
		if len(got) != 1 {
			t.Fatalf("%s: %d checks", c.name, len(got))
		}
		g := got[0]
		if g.line != c.key.Line || g.Check != lineNames()[c.key.Line] || g.Result != c.result || !strings.Contains(g.Detail, c.detail) {
			t.Errorf("%s: %s %s %q, want %s with %q", c.name, g.Result, g.Check, g.Detail, c.result, c.detail)
		}
		if (g.Result == Warn) != (g.Fix == fix) {
			t.Errorf("%s: fix %q with result %s", c.name, g.Fix, g.Result)
		}
	}
}
