package main

// The configuration. table is every setting of the daemon, one row per setting.ID: its flag, its variables, its
// default, how it is parsed and where it goes, its field in the start line and its part of doctor's summary. The
// flags and --help (flags.go), load, logStart and summary are all made from it; a setting is named by its ID, so a
// setting that is not in the table cannot be asked for (TestTableHasEveryID).
//
// load reads every value (a flag given wins, else the first variable set, else the file of <VAR>_FILE), parses each
// one, then checks the rules that tie several together, and reports every problem in one run (exit 2), each named
// by the variable, flag or file it came from.

import (
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/doctor"
	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// Bounds of the settings, and the one default that no package holds (the others are the packages' Default*
// constants: updater.DefaultInterval, rancher.DefaultTimeout, rancher.DefaultConcurrency, ecr.DefaultTimeout).
const (
	minInterval       = time.Second
	minTimeout        = time.Second      // below this, a TLS handshake over a real network fails
	maxTimeout        = 10 * time.Minute // above this, one hung request holds a pass for too long
	maxConcurrency    = 64
	defaultListenPort = 8080
)

// row is one setting.
type row struct {
	id setting.ID
	// How the operator gives it: a flag ("" for the variables of the AWS SDK and net/http, which have none), the
	// variables (the first one set wins; a flag given wins over them), and, when file says what the file holds
	// ("the AWS secret access key"), a <VAR>_FILE companion instead of the variable.
	flag string
	vars []string
	file string
	// boolean makes the flag a switch (--dry-run alone is true); secret keeps the value out of every message and
	// line (the scrubber learns it); proxy marks a proxy URL, whose user information is secret.
	boolean, secret, proxy bool
	// def is what an unset value means, as text: --help shows it, and it is parsed like a given value.
	def   string
	usage string
	kind
	// logKey is the value's field in the start line ("" for none); summary, when set, is its part of doctor's
	// summary, after the variable's name ("" leaves it out).
	logKey  string
	summary func(*settings) string
	// check is doctor's line on where a key came from (doctor.LineAWSSecretKey: "aws: secret key"); warn makes a
	// key in a plain variable a warning there.
	check doctor.Line
	warn  bool
}

// kind is how a row's value is parsed into its destination, and shown in the start line.
type kind struct {
	parse func(s *settings, v value) error // v.text is the default when nothing was given
	show  func(s *settings) any
}

// into parses a value with parse into the field dest points to, and shows the field (through show, when set).
func into[T any](dest func(*settings) *T, parse func(string) (T, error), show func(T) any) kind {
	return kind{
		parse: func(s *settings, v value) error {
			x, err := parse(v.text)
			if err == nil {
				*dest(s) = x
			}
			return err
		},
		show: func(s *settings) any {
			if show == nil {
				return *dest(s)
			}
			return show(*dest(s))
		},
	}
}

func switchInto(dest func(*settings) *bool) kind { return into(dest, parseBool, nil) }

func durationInto(dest func(*settings) *time.Duration, lo, hi time.Duration) kind {
	return into(dest, func(s string) (time.Duration, error) { return duration(s, lo, hi) },
		func(d time.Duration) any { return shortDuration(d) })
}

func wholeInto(dest func(*settings) *int, lo, hi int) kind {
	return into(dest, func(s string) (int, error) { return integer(s, lo, hi) }, nil)
}

// listInto parses a comma list, each item with check, into dest; the start line shows it as given.
func listInto(dest func(*settings) *[]string, split func(string) []string, check func(string) (string, error)) kind {
	return into(dest, func(s string) ([]string, error) { return checkEach(split(s), check) },
		func(l []string) any { return strings.Join(l, ",") })
}

// keyKind is a key's: read with the values (from its file, too), handed to its destination by set when it has one
// (the AWS SDK reads the AWS keys itself), shown by startField.
func keyKind(id setting.ID, set func(*settings, value)) kind {
	k := kind{show: func(s *settings) any { return s.in.startField(id) }}
	if set != nil {
		k.parse = func(s *settings, v value) error { set(s, v); return nil }
	}
	return k
}

// table is every setting of the daemon, in the order of --help. Each row: how it is given (flag, variables, a
// file); its default and --help; how it is parsed, into what, and shown (kind); its start-line key and doctor's
// summary; for a key, doctor's line.
func table() []row {
	return []row{
		{id: setting.URL, flag: "cattle-url", vars: []string{"CATTLE_URL"},
			usage: "Rancher API URL: http://host:8080/v1 (agent), the server root, /v2-beta, or an Environment API Endpoint /v2-beta/projects/<id>",
			kind:  kind{parse: parseURL, show: func(s *settings) any { return s.rancherURL }}, logKey: "cattle_url",
			summary: func(s *settings) string { return s.rancherURL }},
		{id: setting.AccessKey, flag: "cattle-access-key", vars: []string{"CATTLE_ACCESS_KEY"}, file: "the Rancher API access key",
			usage: "Rancher API access key (environment or account key)",
			kind:  keyKind(setting.AccessKey, func(s *settings, v value) { s.updater.Rancher.AccessKey = v.text }), logKey: "cattle_access_key",
			summary: func(s *settings) string { return s.updater.Rancher.AccessKey },
			check:   doctor.LineRancherAccessKey},
		{id: setting.SecretKey, flag: "cattle-secret-key", vars: []string{"CATTLE_SECRET_KEY"}, file: "the Rancher API secret key", secret: true,
			usage: "Rancher API secret key (prefer the variable, or its file, to the flag)",
			kind:  keyKind(setting.SecretKey, func(s *settings, v value) { s.updater.Rancher.SecretKey = redact.Secret(v.text) }), logKey: "cattle_secret_key",
			check: doctor.LineRancherSecretKey, warn: true},
		{id: setting.AWSAccessKeyID, vars: []string{"AWS_ACCESS_KEY_ID"}, file: "the AWS access key id",
			kind: kind{show: awsCredentials}, logKey: "aws_credentials",
			check: doctor.LineAWSAccessKeyID},
		{id: setting.AWSSecretKey, vars: []string{"AWS_SECRET_ACCESS_KEY"}, file: "the AWS secret access key", secret: true,
			kind: keyKind(setting.AWSSecretKey, nil), logKey: "aws_secret_access_key",
			check: doctor.LineAWSSecretKey, warn: true},
		{id: setting.AWSSessionToken, vars: []string{"AWS_SESSION_TOKEN"}, file: "the AWS session token", secret: true,
			kind: keyKind(setting.AWSSessionToken, nil), logKey: "aws_session_token",
			check: doctor.LineAWSSessionToken},
		{id: setting.Region, flag: "aws-region", vars: []string{"AWS_REGION", "AWS_DEFAULT_REGION"},
			usage: "home AWS region: STS for AWS_ROLE_ARN, and where AUTO_CREATE creates registries",
			kind:  into(func(s *settings) *string { return &s.updater.Rules.HomeRegion }, parseRegion, nil), logKey: "aws_region",
			summary: showRegion},
		{id: setting.RoleARN, flag: "aws-role-arn", vars: []string{"AWS_ROLE_ARN"},
			usage: "IAM role to assume through the regional STS (unless AWS_WEB_IDENTITY_TOKEN_FILE is set)",
			kind:  into(func(s *settings) *string { return &s.updater.ECR.RoleARN }, parseRoleARN, nil), logKey: "aws_role_arn",
			summary: func(s *settings) string { return s.updater.ECR.RoleARN }},
		{id: setting.RegistryIDs, flag: "registry-ids", vars: []string{"AWS_ECR_REGISTRY_IDS"},
			usage: "comma list of 12-digit AWS accounts: only their registries are refreshed",
			kind:  listInto(func(s *settings) *[]string { return &s.updater.Rules.Accounts }, list, parseAccount), logKey: "aws_ecr_registry_ids",
			summary: func(s *settings) string { return strings.Join(s.updater.Rules.Accounts, ",") }},
		{id: setting.Regions, flag: "ecr-regions", vars: []string{"ECR_REGIONS"},
			usage: "comma list of AWS regions: only their registries are refreshed",
			kind:  listInto(func(s *settings) *[]string { return &s.updater.Rules.Regions }, list, parseListedRegion), logKey: "ecr_regions",
			summary: func(s *settings) string { return strings.Join(s.updater.Rules.Regions, ",") }},
		{id: setting.AutoCreate, flag: "auto-create", vars: []string{"AUTO_CREATE"}, boolean: true,
			def: "false", usage: "create the registry of the caller's account (or of each AWS_ECR_REGISTRY_IDS account) in AWS_REGION when missing",
			kind: switchInto(func(s *settings) *bool { return &s.updater.Rules.AutoCreate }), logKey: "auto_create",
			summary: showOn(setting.AutoCreate)},
		{id: setting.Interval, flag: "update-interval", vars: []string{"UPDATE_INTERVAL"},
			def:   shortDuration(updater.DefaultInterval),
			usage: "longest time between passes (Go duration, at least " + shortDuration(minInterval) + "); passes come sooner when tokens live shorter",
			kind:  durationInto(func(s *settings) *time.Duration { return &s.updater.Interval }, minInterval, 0), logKey: "update_interval"},
		{id: setting.DryRun, flag: "dry-run", vars: []string{"DRY_RUN"}, boolean: true,
			def: "false", usage: "compute and log the plan, write nothing",
			kind: switchInto(func(s *settings) *bool { return &s.updater.DryRun }), logKey: "dry_run"},
		{id: setting.Discover, flag: "discover-registries", vars: []string{"DISCOVER_REGISTRIES"}, boolean: true,
			def: "false", usage: "create the in-scope ECR registries that the images of an environment's services use and the environment lacks",
			kind: switchInto(func(s *settings) *bool { return &s.updater.Rules.Discover }), logKey: "discover_registries"},
		{id: setting.Events, flag: "events", vars: []string{"EVENTS"}, boolean: true,
			def: "true", usage: "follow each environment's event stream and refresh a registry within seconds of its change (false: on schedule only)",
			kind: switchInto(func(s *settings) *bool { return &s.updater.Events }), logKey: "events"},
		{id: setting.LogLevel, flag: "log-level", vars: []string{"LOG_LEVEL"},
			def: "info", usage: "trace, debug, info, warn (warning) or error, any case; panic and fatal log at error level",
			kind: into(func(s *settings) *logrus.Level { return &s.logLevel }, parseLevel, func(l logrus.Level) any { return l.String() }), logKey: "log_level"},
		{id: setting.LogFormat, flag: "log-format", vars: []string{"LOG_FORMAT"},
			def: "text", usage: "text or json",
			kind: into(func(s *settings) *string { return &s.logFormat }, parseLogFormat, nil), logKey: "log_format"},
		{id: setting.ListenPort, flag: "listen-port", vars: []string{"LISTEN_PORT"},
			def: strconv.Itoa(defaultListenPort), usage: "port of /ping, /livez, /healthz, /readyz and /metrics (0 turns them off)",
			kind: wholeInto(func(s *settings) *int { return &s.listenPort }, 0, 65535), logKey: "listen_port"},
		{id: setting.RancherTimeout, flag: "rancher-timeout", vars: []string{"RANCHER_TIMEOUT"},
			def:   shortDuration(rancher.DefaultTimeout),
			usage: fmt.Sprintf("deadline of each Rancher request (%s to %s)", shortDuration(minTimeout), shortDuration(maxTimeout)),
			kind:  durationInto(func(s *settings) *time.Duration { return &s.updater.Rancher.Timeout }, minTimeout, maxTimeout), logKey: "rancher_timeout"},
		{id: setting.ECRTimeout, flag: "ecr-timeout", vars: []string{"ECR_TIMEOUT"},
			def:   shortDuration(ecr.DefaultTimeout),
			usage: fmt.Sprintf("deadline of each ECR token fetch, retries included (%s to %s)", shortDuration(minTimeout), shortDuration(maxTimeout)),
			kind:  durationInto(func(s *settings) *time.Duration { return &s.updater.ECR.Timeout }, minTimeout, maxTimeout), logKey: "ecr_timeout"},
		{id: setting.CACert, flag: "rancher-ca-cert", vars: []string{"RANCHER_CA_CERT"}, file: "the PEM certificate(s) of the Rancher server's CA",
			usage: "a CA to trust for the Rancher server, on top of the system roots: the path of a PEM file, or the PEM certificate(s) themselves",
			kind:  kind{parse: parseCA, show: showCA}, logKey: "rancher_ca_cert",
			summary: func(s *settings) string { return s.caSource }},
		{id: setting.InsecureSkipVerify, flag: "rancher-insecure-skip-verify", vars: []string{"RANCHER_INSECURE_SKIP_VERIFY"}, boolean: true,
			def: "false", usage: "do not verify the Rancher server's TLS certificate (unsafe)",
			kind: switchInto(func(s *settings) *bool { return &s.updater.Rancher.InsecureSkipVerify }), logKey: "rancher_insecure_skip_verify"},
		{id: setting.Environments, flag: "rancher-environments", vars: []string{"RANCHER_ENVIRONMENTS"},
			usage: `comma list of environment ids or names, or all (needs an account API key); write a comma inside a name as \,`,
			kind:  listInto(func(s *settings) *[]string { return &s.updater.Environments }, escapedList, checkEnvironmentName), logKey: "rancher_environments",
			summary: func(s *settings) string { return strings.Join(s.updater.Environments, ",") }},
		{id: setting.Concurrency, flag: "rancher-concurrency", vars: []string{"RANCHER_CONCURRENCY"},
			def: strconv.Itoa(rancher.DefaultConcurrency), usage: fmt.Sprintf("Rancher requests in flight at most (1 to %d)", maxConcurrency),
			kind: wholeInto(func(s *settings) *int { return &s.updater.Concurrency }, 1, maxConcurrency), logKey: "rancher_concurrency"},
		{id: setting.HTTPSProxy, vars: []string{"HTTPS_PROXY", "https_proxy"}, file: "the HTTPS proxy URL (with a password)", proxy: true,
			check: doctor.LineHTTPSProxy, warn: true},
		{id: setting.HTTPProxy, vars: []string{"HTTP_PROXY", "http_proxy"}, file: "the HTTP proxy URL (with a password)", proxy: true,
			check: doctor.LineHTTPProxy, warn: true},
	}
}

// rowOf is the row of id. Every ID has one (TestTableHasEveryID).
func rowOf(id setting.ID) row {
	for _, r := range table() {
		if r.id == id {
			return r
		}
	}
	panic(fmt.Sprintf("setting %d has no row in the settings table", id))
}

// name is the variable of a setting, as messages name it.
func name(id setting.ID) string { return rowOf(id).vars[0] }

// names names the settings where text leaves the process: every setting's neutral word (how the packages refer
// to it, setting.ID.String) becomes its variable. load hands it to the scrubber every line, message, report and
// health answer passes; the demo, which does not run with the daemon's settings, keeps the neutral words.
func names() *strings.Replacer { return setting.Namer(name) }

// settings is the validated configuration of the daemon.
type settings struct {
	updater updater.Config
	in      inputs               // every value as given, and where it came from
	failed  [setting.NumIDs]bool // the settings whose value was refused: the rules that tie them to others wait
	// What the table parses into besides updater.Config.
	rancherURL string // CATTLE_URL as given, for output (updater.Rancher.Endpoint is it parsed)
	caSource   string // where the Rancher CA came from and how many certificates it holds, for output
	listenPort int
	logLevel   logrus.Level
	logFormat  string
	log        *logrus.Logger
	scrubber   *redact.Scrubber
}

// value is a setting's value as given, and where it came from.
type value struct {
	text string // trimmed (but for a secret); "" when not given
	from string // the variable ("AWS_DEFAULT_REGION", "https_proxy"), the flag ("--cattle-url") or the <VAR>_FILE
	file string // the path, when it came from <VAR>_FILE (even when the file could not be read)
}

// given reports whether the value was given, plainly or in a file (a file that could not be read counts: its
// problem is reported on its own).
func (v value) given() bool { return v.text != "" || v.file != "" }

// name is what messages call the value: where it came from, or the setting's variable.
func (v value) name(r row) string {
	if v.from != "" {
		return v.from
	}
	return r.vars[0]
}

// inputs are the values of every setting, by ID.
type inputs [setting.NumIDs]value

// load reads, parses and checks every setting, and reports every problem found in one error (exit 2); each
// problem names its variable.
func load(c *cli.Command, stderr io.Writer, scrubber *redact.Scrubber) (*settings, error) {
	s := &settings{scrubber: scrubber, logLevel: logrus.InfoLevel}
	// What leaves the process from here on names the settings by their variables.
	s.scrubber.Rename(names())
	// The values first, the keys' files too: the scrubber learns every secret before anything can print.
	errs := s.read(c)
	s.scrubber.Add(s.in.secrets()...)
	s.scrubber.Add(redact.Secret(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")))
	for _, r := range table() {
		errs = append(errs, s.parse(r))
	}
	for _, rule := range []func(*settings) error{requireRancher, checkStaticKeys, checkRole, checkAutoCreate, checkEnvironments} {
		errs = append(errs, rule(s))
	}
	s.wire(stderr)
	if err := errors.Join(errs...); err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	return s, nil
}

// loadOne reads and parses one setting alone (healthcheck, demo); given reports whether it was given.
func loadOne(c *cli.Command, id setting.ID) (s *settings, given bool, err error) {
	s = &settings{logLevel: logrus.InfoLevel}
	r := rowOf(id)
	if s.in[id], err = readValue(c, r); err != nil {
		return s, true, err
	}
	return s, s.in[id].given(), s.parse(r)
}

// read reads every value; one error per problem.
func (s *settings) read(c *cli.Command) []error {
	var errs []error
	for _, r := range table() {
		v, err := readValue(c, r)
		s.in[r.id] = v
		if err != nil {
			s.failed[r.id] = true
			errs = append(errs, err)
		}
	}
	return errs
}

// readValue reads a setting's value: its flag when given, else the first of its variables set, else the file its
// <VAR>_FILE names. A value in quotes, or one given both plainly and in a file, is refused. It makes no request.
func readValue(c *cli.Command, r row) (value, error) {
	v := plainValue(c, r)
	path, pathFrom := filePath(c, r)
	switch {
	case path != "" && v.text != "":
		why := ""
		if r.check != 0 {
			why = " (the file keeps the key out of the service's configuration)"
		}
		return v, fmt.Errorf("%s and %s are both set: set one of them%s", v.from, pathFrom, why)
	case path != "":
		text, err := readFile(path, r.fileLimit())
		return value{text: text, from: pathFrom, file: path}, named(pathFrom, err)
	}
	return v, quoted(r, v)
}

// plainValue is the value of the flag, when given, or of the first variable set.
func plainValue(c *cli.Command, r row) value {
	if r.flag != "" && c.IsSet(r.flag) {
		return r.clean(value{text: c.String(r.flag), from: "--" + r.flag})
	}
	for _, variable := range r.vars {
		if v := r.clean(value{text: os.Getenv(variable), from: variable}); v.given() {
			return v
		}
	}
	return value{}
}

// clean trims a value (not a secret's: its spaces are its own); white space alone is no value.
func (r row) clean(v value) value {
	if strings.TrimSpace(v.text) == "" {
		return value{}
	}
	if !r.secret {
		v.text = strings.TrimSpace(v.text)
	}
	return v
}

// filePath is the path of the row's <VAR>_FILE, from its flag or its variable, and which it came from.
func filePath(c *cli.Command, r row) (path, from string) {
	if r.file == "" {
		return "", ""
	}
	if p := strings.TrimSpace(c.String(r.fileFlag())); c.IsSet(r.fileFlag()) && p != "" {
		return p, "--" + r.fileFlag()
	}
	return strings.TrimSpace(os.Getenv(r.fileVar())), r.fileVar()
}

// quoted refuses a value wrapped in matching quotes (' or "), as an .env file or a shell's double quoting leaves
// them: no value of any setting starts and ends with the same quote. The value is quoted in the message unless
// it is a secret, or a proxy URL that may carry one.
func quoted(r row, v value) error {
	t := v.text
	if len(t) < 2 || (t[0] != '"' && t[0] != '\'') || t[len(t)-1] != t[0] {
		return nil
	}
	if r.secret || r.proxy {
		return fmt.Errorf("%s has quotes around its value: remove them", v.from)
	}
	return fmt.Errorf("%s: %q has quotes around it: remove them", v.from, t)
}

// parse parses a row's value (its default when not given) into its destination, unless reading it failed.
func (s *settings) parse(r row) error {
	if s.failed[r.id] || r.parse == nil {
		return nil
	}
	v := s.in[r.id]
	if !v.given() {
		v.text = r.def
	}
	err := r.parse(s, v)
	if err != nil {
		s.failed[r.id] = true
	}
	return namedEach(v.name(r), err)
}

// wire hands the settings that several settings make to the packages: the logger, the keys from files, the
// proxy.
func (s *settings) wire(stderr io.Writer) {
	u := &s.updater
	s.log = newLogger(stderr, s.logLevel, s.logFormat, s.scrubber)
	// What the standard library and the libraries print through package log (net/http's client and server
	// errors, ...) goes through the logger too, at warning level.
	stdlog.SetFlags(0)
	stdlog.SetOutput(updater.LogWriter(s.log.WithField("library", "log"), logrus.WarnLevel))
	u.Log, u.Scrubber = s.log, s.scrubber
	u.ECR.HomeRegion = u.Rules.HomeRegion
	u.ECR.WebIdentityTokenFile = os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	u.ECR.Keys = s.in.awsKeys()
	u.Rancher.Proxy = s.in.proxy()
	u.ECR.Proxy = u.Rancher.Proxy
}

// newLogger makes the logger: every line through the scrubber.
func newLogger(stderr io.Writer, level logrus.Level, format string, scrubber *redact.Scrubber) *logrus.Logger {
	log := logrus.New()
	log.Out = stderr
	log.SetLevel(level)
	var inner logrus.Formatter = &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339, DisableColors: true}
	if format == "json" {
		inner = &logrus.JSONFormatter{TimestampFormat: time.RFC3339}
	}
	log.SetFormatter(&redact.Formatter{Inner: inner, Scrubber: scrubber})
	return log
}

// The rules that tie several settings together, each on its own. A rule about a setting whose value was refused
// waits: the refusal says enough.

// requireRancher names, in one message, every one of the three required settings that is not set (a key whose
// _FILE is set counts as set: a problem with its file has a message of its own).
func requireRancher(s *settings) error {
	var missing []string
	for _, id := range []setting.ID{setting.URL, setting.AccessKey, setting.SecretKey} {
		if !s.in[id].given() {
			missing = append(missing, name(id))
		}
	}
	verb := "are"
	switch len(missing) {
	case 0:
		return nil
	case 1:
		verb = "is"
	}
	return fmt.Errorf("%s %s not set: give the Rancher API URL and key (the key may come from %s and %s; Rancher sets all three in containers with the agent labels)",
		strings.Join(missing, ", "), verb, rowOf(setting.AccessKey).fileVar(), rowOf(setting.SecretKey).fileVar())
}

// checkStaticKeys refuses half a static key pair, which the SDK would silently pass over for another source; each
// key counts whether it came from its variable or its file.
func checkStaticKeys(s *settings) error {
	id, secret, token := s.in[setting.AWSAccessKeyID], s.in[setting.AWSSecretKey], s.in[setting.AWSSessionToken]
	idName, secretName := name(setting.AWSAccessKeyID), name(setting.AWSSecretKey)
	switch {
	case id.given() && !secret.given():
		return fmt.Errorf("%s is not set (nor %s_FILE), but %s is: set both, or neither to use another credential source", secretName, secretName, id.from)
	case secret.given() && !id.given():
		return fmt.Errorf("%s is not set (nor %s_FILE), but %s is: set both, or neither to use another credential source", idName, idName, secret.from)
	case !id.given() && token.given():
		return fmt.Errorf("%s is set without %s and %s (or their _FILE): set all three, or none", token.from, idName, secretName)
	}
	return nil
}

// checkRole: a role is assumed through the regional STS, unless by web identity.
func checkRole(s *settings) error {
	if s.updater.ECR.RoleARN != "" && s.updater.Rules.HomeRegion == "" && !s.failed[setting.Region] &&
		os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") == "" {
		return fmt.Errorf("%s needs %s: the role is assumed through the regional STS", name(setting.RoleARN), name(setting.Region))
	}
	return nil
}

// checkAutoCreate: AUTO_CREATE creates registries in the home region, which must be in scope.
func checkAutoCreate(s *settings) error {
	r := s.updater.Rules
	switch {
	case !r.AutoCreate || s.failed[setting.Region]:
		return nil
	case r.HomeRegion == "":
		return fmt.Errorf("%s needs %s: registries are created in that region", name(setting.AutoCreate), name(setting.Region))
	case len(r.Regions) > 0 && !slices.Contains(r.Regions, r.HomeRegion):
		return fmt.Errorf("%s leaves out %s %s, where %s creates registries", name(setting.Regions), name(setting.Region), r.HomeRegion, name(setting.AutoCreate))
	}
	return nil
}

// checkEnvironments: other environments are reached through the server's API, not one environment's.
func checkEnvironments(s *settings) error {
	if len(s.updater.Environments) > 0 && s.updater.Rancher.Endpoint.Project != "" {
		return fmt.Errorf("%s needs %s without /projects/<id> (the server root, /v1 or /v2-beta), with an account API key",
			name(setting.Environments), name(setting.URL))
	}
	return nil
}

// logStart logs the effective configuration, every secret redacted: the table's fields.
func (s *settings) logStart(command string) {
	fields := logrus.Fields{"command": command, "version": version, "commit": commit}
	for _, r := range table() {
		if r.logKey != "" {
			fields[r.logKey] = r.show(s)
		}
	}
	s.log.WithFields(fields).Info("starting")
	if s.updater.Rancher.InsecureSkipVerify {
		s.log.Warn(name(setting.InsecureSkipVerify) + " is on: the Rancher server's TLS certificate is NOT verified; anyone on the network path can read the API keys and ECR passwords. Use " + name(setting.CACert) + " instead.")
	}
	if s.updater.DryRun {
		s.log.Warn(name(setting.DryRun) + " is on: nothing will be written to Rancher")
	}
}

// summary describes the loaded configuration in one line, without secrets, for doctor: the table's parts.
func (s *settings) summary() string {
	var parts []string
	for _, r := range table() {
		if r.summary == nil {
			continue
		}
		if v := r.summary(s); v != "" {
			parts = append(parts, r.vars[0]+" "+v)
		}
	}
	return "valid, as the daemon loads it: " + strings.Join(parts, ", ")
}

// awsCredentials says in the start line where the AWS credentials come from.
func awsCredentials(s *settings) any {
	if id := s.in.startField(setting.AWSAccessKeyID); id != notSet {
		return name(setting.AWSAccessKeyID) + " " + id
	}
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		return "AWS_PROFILE " + p
	}
	return "default chain"
}

// showCA is the Rancher CA in the start line: where it came from, or false.
func showCA(s *settings) any {
	if s.caSource == "" {
		return false
	}
	return s.caSource
}

// showRegion is the home region in doctor's summary, set or not.
func showRegion(s *settings) string {
	if r := s.updater.Rules.HomeRegion; r != "" {
		return r
	}
	return notSet
}

// showOn is a switch in doctor's summary: "on", or nothing.
func showOn(id setting.ID) func(*settings) string {
	return func(s *settings) string {
		if on, _ := rowOf(id).show(s).(bool); on {
			return "on"
		}
		return ""
	}
}

// notSet is how the start line and doctor show a setting without a value.
const notSet = "(not set)"
