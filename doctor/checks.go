package doctor

import (
	"regexp"
	"strings"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Kind is one kind of line of the report: the names its lines carry, and when it is a failure. In a name, <env>
// stands for an environment (its id and name), <id> for a registry's id, <region> for an AWS region, <name> for a
// service.
type Kind struct {
	Names []string
	// Fails says when a line of this kind is FAIL; empty for a line that never fails, and Says what it says.
	Fails, Says string
}

// Kinds are the kinds of line a run writes, in the order of the report: `ecr-updater doctor --help` lists them,
// and TestKindsNameEveryLine holds every line a run writes to one of them. n names the settings.
func Kinds(n setting.Names) []Kind {
	n = n.Filled()
	return []Kind{
		{Names: []string{"configuration"}, Fails: "the configuration, loaded exactly as the daemon loads it, is invalid (exit 2, as the " +
			"daemon), or " + n.Environments + " names other environments for an Environment API key"},
		{Names: []string{"rancher: access key", "rancher: secret key", "aws: access key id", "aws: secret key", "aws: session token",
			"proxy: HTTPS_PROXY", "proxy: HTTP_PROXY"}, Says: "where each key came from; a secret key, or a proxy password, in a " +
			"plain variable is a warning, unless Rancher made the key for the container (agent labels)"},
		{Names: []string{"aws: configuration"}, Fails: "the AWS SDK cannot be set up (a profile, the shared files, AWS_CA_BUNDLE)"},
		{Names: []string{"rancher: reachable", "rancher: API key", "rancher: environments"}, Fails: "Rancher does not answer at " +
			n.URL + ", refuses the key, or cannot list the environments; the key's kind and scope are shown"},
		{Names: []string{"env <env>", "env <env>: read", "env <env>: read services"}, Fails: "an environment of " + n.Environments +
			" does not exist, or its registries, credentials or services cannot be read (an inactive environment is a warning)"},
		{Names: []string{"env <env>: write access"}, Fails: "the key may not create registries or create and update their " +
			"credentials there, according to the schemas' methods (no test write)"},
		{Names: []string{"aws: credentials", "aws: caller identity"}, Fails: "the SDK found no credentials, or AWS refuses them " +
			"(STS GetCallerIdentity)"},
		{Names: []string{"aws: tokens", "aws: token <region>"}, Fails: "GetAuthorizationToken fails in a region in use"},
		{Names: []string{"env <env>: " + n.AutoCreate, "env <env>: " + n.Discover}, Says: "the registries the next pass creates"},
		{Names: []string{"env <env>: registry <id>", "env <env>: registries"}, Fails: "an in-scope registry has an address Rancher " +
			"never matches to an image (scheme, path, trailing slash), or its region's token does not open it " +
			"(GET https://<host>/v2/ does not answer 200)"},
		{Names: []string{"env <env>: ECR images", "env <env>: service <name>", "env <env>: services"}, Fails: "a service's image " +
			"is on an ECR host without an active registry of exactly that address in the environment: Rancher pulls it " +
			"without credentials"},
		{Names: []string{"doctor: time"}, Fails: "the checks did not finish within the budget (" + DefaultBudget.String() +
			"), or were stopped"},
	}
}

// Matches reports whether a line's check is of this kind.
func (k Kind) Matches(check string) bool {
	for _, name := range k.Names {
		if namePattern(name).MatchString(check) {
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`<[a-z]+>`)

// namePattern matches the checks a name stands for: <env> and <name> are anything but a colon (names hold spaces),
// <id> a Cattle id (1sp3), <region> one word.
func namePattern(name string) *regexp.Regexp {
	pattern := placeholder.ReplaceAllStringFunc(regexp.QuoteMeta(name), func(p string) string {
		switch p {
		case "<env>", "<name>":
			return "[^:]+"
		case "<id>":
			return "[0-9]+[a-z]+[0-9]+"
		}
		return `\S+`
	})
	return regexp.MustCompile("^" + pattern + "$")
}

// Help is what `ecr-updater doctor --help` says of the checks.
func Help(n setting.Names) string {
	var b strings.Builder
	b.WriteString("It reads only: no write to Rancher, no change in AWS. One line per check: ok, warn or FAIL, what was found,\n" +
		"and for a warning or failure the fix. The checks, in order, and when each is FAIL:\n")
	for _, k := range Kinds(n) {
		b.WriteString("  " + strings.Join(k.Names, ", ") + "\n")
		if k.Fails == "" {
			b.WriteString("      never FAIL: " + k.Says + "\n")
		} else {
			b.WriteString("      FAIL when " + k.Fails + "\n")
		}
	}
	b.WriteString("Exit 0 when all is well, 1 when something would make a pull fail, 2 for configuration errors.")
	return b.String()
}
