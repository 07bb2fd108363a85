// Package setting names the operator's settings in what the packages write, without knowing how the operator sets
// them.
//
// A package refers to a setting by its ID: in a text, by the ID's neutral word (setting.URL.String(), or %s of the
// ID: "the Rancher URL"); in an error about a setting that no retry can fix, with an *Error, which carries the ID.
// Only main.go knows the environment variables (CATTLE_URL, AUTO_CREATE, ...): it names the settings where the
// text leaves the process, by handing Namer's replacer to the scrubber every line, message, report and health
// answer already passes (redact.Scrubber.Rename), so that each neutral word reads as its variable there. Where no
// names are installed (the packages' tests, the demo), a text reads as it was written: with the neutral words.
//
// So the neutral words are the references themselves: each is written only to refer to its setting, none contains
// another, and each is of letters, digits, spaces and hyphens, which every encoding of a line (JSON, a quoted
// logfmt value) keeps as they are (TestWords).
package setting

import (
	"fmt"
	"strings"
)

// String is the neutral word of the setting: how a text refers to it, and what it reads as where no names are
// installed.
func (id ID) String() string {
	if id > 0 && id < NumIDs {
		return words()[id]
	}
	return fmt.Sprintf("setting %d", uint8(id))
}

// words are the neutral words, by ID.
func words() [NumIDs]string {
	return [NumIDs]string{
		URL: "the Rancher URL", AccessKey: "the Rancher access key", SecretKey: "the Rancher secret key",
		AWSAccessKeyID: "the AWS access key id", AWSSecretKey: "the AWS secret access key", AWSSessionToken: "the AWS session token",
		Region: "the AWS region", RoleARN: "the AWS role ARN", RegistryIDs: "the ECR registry ids", Regions: "the ECR regions",
		AutoCreate: "auto-creation", Interval: "the update interval", DryRun: "dry-run mode", Discover: "registry discovery",
		Events: "event-driven refresh", LogLevel: "the log level", LogFormat: "the log format", ListenPort: "the listen port",
		RancherTimeout: "the Rancher timeout", ECRTimeout: "the ECR timeout", CACert: "the Rancher CA certificate",
		InsecureSkipVerify: "unverified TLS to Rancher", Environments: "the environment selection",
		Concurrency: "the Rancher concurrency", HTTPSProxy: "the HTTPS proxy", HTTPProxy: "the HTTP proxy",
	}
}

// Namer is the replacer of every setting's neutral word by its name (name(id)): what main.go installs where text
// leaves the process.
func Namer(name func(ID) string) *strings.Replacer {
	var pairs []string
	for id := ID(1); id < NumIDs; id++ {
		pairs = append(pairs, id.String(), name(id))
	}
	return strings.NewReplacer(pairs...)
}

// Error is a configuration error about one setting: a value that cannot work, which no retry fixes (main.go exits
// 2). Its text is "<the setting>: <Err>".
type Error struct {
	ID  ID
	Err error
}

// Errorf is an *Error about id, its text formatted as fmt.Errorf formats it.
func Errorf(id ID, format string, a ...any) *Error {
	return &Error{ID: id, Err: fmt.Errorf(format, a...)}
}

func (e *Error) Error() string { return e.ID.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
