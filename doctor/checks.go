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
	// lines are the kind's names, each with the Line that stands for it.
	lines []name
}

// Line is one name of the table (Kinds), e.g. "env <env>: registry <id>". Every line a run writes is a value of one
// Line, and so of one kind: its check is the Line's name with the placeholders filled in, in order (run.check).
type Line int

// The lines of the keys: main.go's settings table names the one of each key (Key.Line).
const (
	LineRancherAccessKey Line = iota + 1
	LineRancherSecretKey
	LineAWSAccessKeyID
	LineAWSSecretKey
	LineAWSSessionToken
	LineHTTPSProxy
	LineHTTPProxy
)

// The other lines, in the order of the table.
const (
	lineConfiguration Line = iota + LineHTTPProxy + 1
	lineAWSConfiguration
	lineReachable
	lineAPIKey
	lineEnvironments
	lineEnv
	lineEnvRead
	lineEnvReadServices
	lineWriteAccess
	lineCredentials
	lineCallerIdentity
	lineTokens
	lineToken
	lineAutoCreate
	lineDiscover
	lineRegistry
	lineRegistries
	lineImages
	lineService
	lineServices
	lineTime
)

// name is a Line and its name in the table.
type name struct {
	line Line
	text string
}

// Kinds are the kinds of line a run writes, in the order of the report: `ecr-updater doctor --help` lists them,
// the README's table of doctor's checks too, and every line a run writes is of one of them (a value of one of
// its Lines).
func Kinds() []Kind {
	kinds := []Kind{
		{lines: []name{{lineConfiguration, "configuration"}}, Fails: "the configuration, loaded exactly as the daemon loads it, is invalid (exit 2, as the " +
			"daemon), or " + setting.Environments.String() + " names other environments for an Environment API key"},
		{lines: []name{{LineRancherAccessKey, "rancher: access key"}, {LineRancherSecretKey, "rancher: secret key"},
			{LineAWSAccessKeyID, "aws: access key id"}, {LineAWSSecretKey, "aws: secret key"}, {LineAWSSessionToken, "aws: session token"},
			{LineHTTPSProxy, "proxy: HTTPS_PROXY"}, {LineHTTPProxy, "proxy: HTTP_PROXY"}}, Says: "where each key came from; a secret key, or a proxy password, in a " +
			"plain variable is a warning, unless Rancher made the key for the container (agent labels)"},
		{lines: []name{{lineAWSConfiguration, "aws: configuration"}}, Fails: "the AWS SDK cannot be set up (a profile, the shared files, AWS_CA_BUNDLE)"},
		{lines: []name{{lineReachable, "rancher: reachable"}, {lineAPIKey, "rancher: API key"}, {lineEnvironments, "rancher: environments"}},
			Fails: "Rancher does not answer at " + setting.URL.String() + ", refuses the key, or cannot list the environments; the key's kind and scope are shown"},
		{lines: []name{{lineEnv, "env <env>"}, {lineEnvRead, "env <env>: read"}, {lineEnvReadServices, "env <env>: read services"}},
			Fails: "an environment of " + setting.Environments.String() + " does not exist, or its registries, credentials or services cannot be read " +
				"(an inactive environment is a warning)"},
		{lines: []name{{lineWriteAccess, "env <env>: write access"}}, Fails: "the key may not create registries or create and update their " +
			"credentials there, according to the schemas' methods (no test write)"},
		{lines: []name{{lineCredentials, "aws: credentials"}, {lineCallerIdentity, "aws: caller identity"}}, Fails: "the SDK found no credentials, or AWS refuses them " +
			"(STS GetCallerIdentity)"},
		{lines: []name{{lineTokens, "aws: tokens"}, {lineToken, "aws: token <region>"}}, Fails: "GetAuthorizationToken fails in a region in use"},
		{lines: []name{{lineAutoCreate, "env <env>: " + setting.AutoCreate.String()}, {lineDiscover, "env <env>: " + setting.Discover.String()}}, Says: "the registries the next pass creates"},
		{lines: []name{{lineRegistry, "env <env>: registry <id>"}, {lineRegistries, "env <env>: registries"}}, Fails: "an in-scope registry has an address Rancher " +
			"never matches to an image (scheme, path, trailing slash), or its region's token does not open it " +
			"(GET https://<host>/v2/ does not answer 200)"},
		{lines: []name{{lineImages, "env <env>: ECR images"}, {lineService, "env <env>: service <name>"}, {lineServices, "env <env>: services"}},
			Fails: "a service's image is on an ECR host without an active registry of exactly that address in the environment: Rancher pulls it " +
				"without credentials"},
		{lines: []name{{lineTime, "doctor: time"}}, Fails: "the checks did not finish within the budget (" + DefaultBudget.String() +
			"), or were stopped"},
	}
	for i := range kinds {
		for _, l := range kinds[i].lines {
			kinds[i].Names = append(kinds[i].Names, l.text)
		}
	}
	return kinds
}

// lineNames are the names of the lines, as Kinds has them.
func lineNames() map[Line]string {
	out := map[Line]string{}
	for _, k := range Kinds() {
		for _, l := range k.lines {
			out[l.line] = l.text
		}
	}
	return out
}

// fill fills the placeholders of a line's name with args, in order.
func fill(name string, args []string) string {
	i := 0
	return placeholder.ReplaceAllStringFunc(name, func(p string) string {
		if i == len(args) {
			return p
		}
		i++
		return args[i-1]
	})
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
func Help() string {
	var b strings.Builder
	b.WriteString("It reads only: no write to Rancher, no change in AWS. One line per check: ok, warn or FAIL, what was found,\n" +
		"and for a warning or failure the fix. The checks, in order, and when each is FAIL:\n")
	for _, k := range Kinds() {
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
