// Command ecr-updater keeps AWS ECR pull credentials fresh in the registries of Rancher 1.6 environments.
//
// main.go only wires flags (each bound to the environment variable the old rancher-ecr-credentials image read)
// to the packages: rancher (the v2-beta API), ecr (AWS) and updater (the rules and the schedule). It is the one
// place that knows the environment variables' names, with keyfiles.go (every key from its variable or a file) and
// doctor_cmd.go of the same package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/demo"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// Set at link time: -ldflags "-X main.version=v1.0.0 -X main.commit=abc1234".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signalContext(context.Background())
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // a pass failed (once), a health check failed, or the daemon could not start serving
	exitConfig = 2 // the configuration is invalid
)

// Defaults and bounds, each stated once: the flags, --help and the validation all use these.
const (
	defaultInterval       = 6 * time.Hour
	minInterval           = time.Second
	defaultRancherTimeout = 10 * time.Second
	defaultECRTimeout     = ecr.DefaultTimeout
	minTimeout            = time.Second      // below this, a TLS handshake over a real network fails
	maxTimeout            = 10 * time.Minute // above this, one hung request holds a pass for too long
	defaultConcurrency    = 8
	maxConcurrency        = 64
	defaultListenPort     = 8080
	defaultLogLevel       = "info"
	defaultLogFormat      = "text"
	demoDefaultTokenTTL   = 10 * time.Second
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func configErr(format string, a ...any) error {
	return &exitError{code: exitConfig, err: fmt.Errorf(format, a...)}
}

// Stopping. SIGTERM (docker stop, Rancher), SIGINT (Ctrl-C) and SIGHUP (a closed terminal, or an operator who
// expects a reload) all stop the daemon gracefully: no new pass and no new write, and the writes in flight get
// updater.Config.Grace to finish. Signals that arrive after the first are ignored, so that nothing kills the
// process in the middle of a write.

// stopSignal is the cause of the context's cancellation when a signal arrived.
type stopSignal struct{ sig os.Signal }

func (s stopSignal) Error() string { return "received " + signalName(s.sig) }

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// signalContext is cancelled, with a stopSignal as its cause, at the first SIGTERM, SIGINT or SIGHUP. The
// signals stay caught until stop is called.
func signalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(stopSignal{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(ch)
		cancel(nil)
	}
}

// logStopping logs which signal stops the command, when one does; the returned function ends the watch and
// waits for the log line.
func logStopping(ctx context.Context, log logrus.FieldLogger) func() {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
		case <-done:
		}
		var sig stopSignal
		if errors.As(context.Cause(ctx), &sig) {
			log.WithField("signal", signalName(sig.sig)).Info("stopping: no new pass or write; writes in flight get the grace to finish")
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// stringFlag is a string flag bound to an environment variable; an empty value means "not set".
func stringFlag(name, env, value, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Sources: cli.EnvVars(env), Value: value, Usage: usage, HideDefault: value == ""}
}

// boolFlag is a boolean flag (--dry-run alone means true) bound to an environment variable whose value is read
// with parseBool: every strconv.ParseBool form, any case, yes/no and on/off; an empty value is false.
func boolFlag(name, env, usage string) *cli.FlagBase[bool, cli.BoolConfig, envBool] {
	return &cli.FlagBase[bool, cli.BoolConfig, envBool]{Name: name, Sources: cli.EnvVars(env), Usage: usage}
}

// boolFlagOn is a boolFlag that is true unless set false: an empty variable (a compose file's ${EVENTS} when
// nothing was exported) keeps it true.
func boolFlagOn(name, env, usage string) *cli.FlagBase[bool, cli.BoolConfig, envBool] {
	f := boolFlag(name, env, usage)
	f.Value = true
	f.Sources = cli.NewValueSourceChain(nonEmptyEnv(env))
	return f
}

// nonEmptyEnv is an environment variable as a flag's source, found only when it is set to something: urfave/cli
// reads an empty boolean variable as false.
type nonEmptyEnv string

func (e nonEmptyEnv) Lookup() (string, bool) {
	v, ok := os.LookupEnv(string(e))
	return v, ok && strings.TrimSpace(v) != ""
}
func (e nonEmptyEnv) String() string   { return "environment variable " + strconv.Quote(string(e)) }
func (e nonEmptyEnv) GoString() string { return "nonEmptyEnv(" + strconv.Quote(string(e)) + ")" }
func (e nonEmptyEnv) IsFromEnv() bool  { return true }
func (e nonEmptyEnv) Key() string      { return string(e) }

// envBool is the value of a boolFlag.
type envBool struct {
	dest *bool
	def  bool // what an empty value means
}

func (envBool) Create(v bool, p *bool, _ cli.BoolConfig) cli.Value {
	*p = v
	return &envBool{dest: p, def: v}
}
func (envBool) ToString(v bool) string { return strconv.FormatBool(v) }
func (b *envBool) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		*b.dest = b.def
		return nil
	}
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*b.dest = v
	return nil
}
func (b *envBool) Get() any {
	if b.dest == nil {
		return false
	}
	return *b.dest
}
func (b *envBool) String() string   { return strconv.FormatBool(b.Get().(bool)) }
func (b *envBool) IsBoolFlag() bool { return true }

// shortDuration prints 6h, 10s or 1m30s rather than 6h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func flags() []cli.Flag {
	return append([]cli.Flag{
		stringFlag("cattle-url", "CATTLE_URL", "", "Rancher API URL: http://host:8080/v1 (agent), the server root, /v2-beta, or an Environment API Endpoint /v2-beta/projects/<id>"),
		stringFlag("cattle-access-key", "CATTLE_ACCESS_KEY", "", "Rancher API access key (environment or account key)"),
		stringFlag("cattle-secret-key", "CATTLE_SECRET_KEY", "", "Rancher API secret key (prefer the environment variable)"),
		&cli.StringFlag{Name: "aws-region", Sources: cli.EnvVars("AWS_REGION", "AWS_DEFAULT_REGION"),
			Usage: "home AWS region: STS for AWS_ROLE_ARN, and where AUTO_CREATE creates registries"},
		stringFlag("aws-role-arn", "AWS_ROLE_ARN", "", "IAM role to assume through the regional STS (unless AWS_WEB_IDENTITY_TOKEN_FILE is set)"),
		stringFlag("registry-ids", "AWS_ECR_REGISTRY_IDS", "", "comma list of 12-digit AWS accounts: only their registries are refreshed"),
		stringFlag("ecr-regions", "ECR_REGIONS", "", "comma list of AWS regions: only their registries are refreshed"),
		boolFlag("auto-create", "AUTO_CREATE", "create the registry of the caller's account (or of each AWS_ECR_REGISTRY_IDS account) in AWS_REGION when missing"),
		stringFlag("update-interval", "UPDATE_INTERVAL", shortDuration(defaultInterval), "longest time between passes (Go duration); passes come sooner when tokens live shorter"),
		boolFlag("dry-run", "DRY_RUN", "compute and log the plan, write nothing"),
		boolFlag("discover-registries", "DISCOVER_REGISTRIES", "create the in-scope ECR registries that the images of an environment's services use and the environment lacks"),
		boolFlagOn("events", "EVENTS", "follow each environment's event stream and refresh a registry within seconds of its change (default true; false: on schedule only)"),
		stringFlag("log-level", "LOG_LEVEL", defaultLogLevel, "trace, debug, info, warn (warning) or error, any case; panic and fatal log at error level"),
		stringFlag("log-format", "LOG_FORMAT", defaultLogFormat, "text or json"),
		stringFlag("listen-port", "LISTEN_PORT", strconv.Itoa(defaultListenPort), "port of /ping, /livez, /healthz, /readyz and /metrics (0 turns them off)"),
		stringFlag("rancher-timeout", "RANCHER_TIMEOUT", shortDuration(defaultRancherTimeout),
			fmt.Sprintf("deadline of each Rancher request (%s to %s)", shortDuration(minTimeout), shortDuration(maxTimeout))),
		stringFlag("ecr-timeout", "ECR_TIMEOUT", shortDuration(defaultECRTimeout),
			fmt.Sprintf("deadline of each ECR token fetch, retries included (%s to %s)", shortDuration(minTimeout), shortDuration(maxTimeout))),
		stringFlag("rancher-ca-cert", "RANCHER_CA_CERT", "", "PEM file of a CA to trust for the Rancher server"),
		boolFlag("rancher-insecure-skip-verify", "RANCHER_INSECURE_SKIP_VERIFY", "do not verify the Rancher server's TLS certificate (unsafe)"),
		stringFlag("rancher-environments", "RANCHER_ENVIRONMENTS", "", `comma list of environment ids or names, or all (needs an account API key); write a comma inside a name as \,`),
		stringFlag("rancher-concurrency", "RANCHER_CONCURRENCY", strconv.Itoa(defaultConcurrency),
			fmt.Sprintf("Rancher requests in flight at most (1 to %d)", maxConcurrency)),
	}, keyFileFlags()...) // keyfiles.go
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ecr-updater %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Every secret the process learns is scrubbed from what it writes to stderr: log lines and exit messages.
	scrubber := redact.NewScrubber()
	stderr = &redact.Writer{W: stderr, Scrubber: scrubber}
	cmd := &cli.Command{
		Name:  "ecr-updater",
		Usage: "keep AWS ECR pull credentials fresh in Rancher 1.6 registries",
		Description: "Every pass lists the registries of the Rancher environment(s), fetches one ECR token per AWS region in use,\n" +
			"and writes the region's password into every active credential of every ECR registry.\n" +
			"All settings come from environment variables (shown in brackets) or flags; an empty value means unset.\n" +
			"Boolean variables take true/false, 1/0, t/f, yes/no or on/off, any case.\n" +
			"AWS credentials come from the SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n" +
			"AWS_PROFILE, web identity, the ECS task role, or the EC2 instance role.\n" +
			"Every key (and a proxy URL with a password) can come from a file instead: <VARIABLE>_FILE, e.g. a Rancher secret\n" +
			"AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/aws_secret_access_key; one trailing newline is not part of the key.\n" +
			"SIGTERM, SIGINT and SIGHUP stop it gracefully.",
		Flags:          append(flags(), &cli.BoolFlag{Name: "version", Local: true, Usage: "print the version, commit and Go version"}),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Bool("version") {
				return printVersion(stdout)
			}
			if c.Args().Present() {
				return configErr("unknown command %q (see --help)", c.Args().First())
			}
			return runDaemon(ctx, c, stderr, scrubber)
		},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return &exitError{code: exitConfig, err: err}
		},
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "run a pass now and then on schedule until SIGTERM, SIGINT or SIGHUP (the default)",
				Action: func(ctx context.Context, c *cli.Command) error {
					return runDaemon(ctx, c, stderr, scrubber)
				},
			},
			{
				Name:  "once",
				Usage: "run one pass; exit 0 when every in-scope registry was written, 1 when anything failed, 2 for configuration errors",
				Action: func(ctx context.Context, c *cli.Command) error {
					return runOnce(ctx, c, stderr, scrubber)
				},
			},
			doctorCommand(stdout, stderr, scrubber), // doctor_cmd.go
			{
				Name: "healthcheck",
				Usage: "ask the running daemon's /livez on LISTEN_PORT (is its loop alive? the image's HEALTHCHECK runs this); " +
					"exit 0 when it is, 1 otherwise. A failing key or Rancher does not fail it: see --status",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "status", Usage: "ask /healthz instead (is the updater doing its job?): exit 1 when starting, failing or overdue"},
				},
				Action: healthcheck,
			},
			{
				Name:  "version",
				Usage: "print the version, commit and Go version",
				Action: func(context.Context, *cli.Command) error {
					return printVersion(stdout)
				},
			},
			{
				Name:  "demo",
				Usage: "run the real updater loop against built-in Rancher and ECR stand-ins and print what changes, pass by pass",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "passes", Usage: "stop after this many passes (0: until Ctrl-C)"},
					&cli.DurationFlag{Name: "token-ttl", Value: demoDefaultTokenTTL, Usage: "lifetime of the stand-in's ECR tokens (more than 0)"},
				},
				Action: func(ctx context.Context, c *cli.Command) error {
					return runDemo(ctx, c, stdout, stderr)
				},
			},
		},
	}
	err := cmd.Run(ctx, args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		printErrors(stderr, ee.err)
		return ee.code
	}
	fmt.Fprintln(stderr, "ecr-updater:", cliError(err))
	return exitConfig // urfave/cli's own errors are about flags and arguments (and values of bound variables)
}

// sourceErrRE matches urfave/cli's error for a bad value of a variable bound to a flag.
var sourceErrRE = regexp.MustCompile(`^could not parse ".*" as \S+ value from environment variable "([A-Z0-9_]+)" for flag [a-z-]+: (.*)$`)

// cliError says "AUTO_CREATE: "maybe" is not a boolean..." where urfave/cli says "could not parse "maybe" as bool
// value from environment variable "AUTO_CREATE" for flag auto-create: ...", like every other configuration error.
func cliError(err error) string {
	if m := sourceErrRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1] + ": " + m[2]
	}
	return err.Error()
}

// printErrors prints an error, one line per joined error.
func printErrors(w io.Writer, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			printErrors(w, e)
		}
		return
	}
	if err.Error() != "" {
		fmt.Fprintln(w, "ecr-updater:", err)
	}
}

// healthcheck asks the running daemon's /livez, which fails only when its loop is wedged: the image's HEALTHCHECK
// runs it, and the catalog's health check asks /livez too, so whatever restarts an unhealthy container restarts
// it only for what a restart can fix. --status asks /healthz, which also fails for a key or a Rancher that fails.
func healthcheck(ctx context.Context, c *cli.Command) error {
	port, err := listenPort(c)
	if err != nil {
		return configErr("%w", err)
	}
	if port == 0 {
		return &exitError{code: exitFailed, err: errors.New("LISTEN_PORT is 0: the daemon serves no health endpoint")}
	}
	path := "/livez"
	if c.Bool("status") {
		path = "/healthz"
	}
	if err := updater.Probe(ctx, fmt.Sprintf("http://127.0.0.1:%d%s", port, path)); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

func runDemo(ctx context.Context, c *cli.Command, stdout, stderr io.Writer) error {
	if n := c.Int("passes"); n < 0 {
		return configErr("--passes: %d is negative; give 0 (run until Ctrl-C) or more", n)
	}
	if ttl := c.Duration("token-ttl"); ttl <= 0 {
		return configErr("--token-ttl: %s is not a lifetime; give a positive duration such as %s", ttl, shortDuration(demoDefaultTokenTTL))
	}
	level := "warn" // the tables say what happens; LOG_LEVEL adds the log lines
	if c.IsSet("log-level") {
		lvl, err := parseLevel(get(c, "log-level"))
		if err != nil {
			return configErr("LOG_LEVEL: %w", err)
		}
		level = lvl.String()
	}
	err := demo.Run(ctx, demo.Options{Passes: c.Int("passes"), TokenTTL: c.Duration("token-ttl"),
		Out: stdout, Log: stderr, LogLevel: level})
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

// settings is the validated configuration of the daemon.
type settings struct {
	updater    updater.Config
	keys       keys   // every key, and where it came from (keyfiles.go)
	rancherURL string // CATTLE_URL as given, for output (updater.Rancher.Endpoint is it parsed)
	listenPort int
	log        *logrus.Logger
	scrubber   *redact.Scrubber
}

// get is a flag's value, trimmed.
func get(c *cli.Command, name string) string { return strings.TrimSpace(c.String(name)) }

// load validates every setting, one concern at a time, and reports every problem found in one error (exit 2);
// each problem names its variable.
func load(c *cli.Command, stderr io.Writer, scrubber *redact.Scrubber) (*settings, error) {
	s := &settings{scrubber: scrubber}
	u := &s.updater
	var errs []error
	check := func(err error) { errs = append(errs, err) } // errors.Join drops the nils

	// The keys first, from their variables or files: the scrubber learns every secret before anything can print.
	var err error
	s.keys, err = readKeys(c)
	check(err)
	s.scrubber.Add(s.keys.secrets()...)
	s.scrubber.Add(redact.Secret(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")))

	s.log, err = loadLog(c, stderr, s.scrubber)
	check(err)
	// What the standard library and the libraries print through package log (net/http's client and server
	// errors, ...) goes through the logger too, at warning level.
	stdlog.SetFlags(0)
	stdlog.SetOutput(updater.LogWriter(s.log.WithField("library", "log"), logrus.WarnLevel))
	u.Log, u.Scrubber = s.log, s.scrubber

	s.rancherURL = get(c, "cattle-url")
	u.Rancher, err = loadRancher(c, s.rancherURL, s.keys)
	check(err)
	u.Concurrency, err = integer(get(c, "rancher-concurrency"), defaultConcurrency, 1, maxConcurrency)
	check(named("RANCHER_CONCURRENCY", err))
	u.Environments, err = loadEnvironments(get(c, "rancher-environments"), u.Rancher.Endpoint)
	check(err)

	u.ECR, err = loadAWS(c, s.keys)
	check(err)
	u.Rancher.Proxy = s.keys.proxy()
	u.ECR.Proxy = u.Rancher.Proxy
	u.Rules, err = loadScope(c, u.ECR.HomeRegion)
	check(err)

	u.Interval, err = duration(get(c, "update-interval"), defaultInterval, minInterval, 0)
	check(named("UPDATE_INTERVAL", err))
	u.DryRun = c.Bool("dry-run")
	u.Events = c.Bool("events")
	u.Rules.Discover = c.Bool("discover-registries")
	s.listenPort, err = listenPort(c)
	check(err)

	u.Names = settingNames()

	if err := errors.Join(errs...); err != nil {
		return nil, &exitError{code: exitConfig, err: err}
	}
	return s, nil
}

// settingNames are the variables behind the settings that the packages name in their errors, hints, log lines,
// reasons and doctor checks: main.go is the only place that knows them (the packages say setting.Names).
func settingNames() setting.Names {
	return setting.Names{
		URL: "CATTLE_URL", AccessKey: "CATTLE_ACCESS_KEY", SecretKey: "CATTLE_SECRET_KEY", Environments: "RANCHER_ENVIRONMENTS",
		CACert: "RANCHER_CA_CERT", RancherTimeout: "RANCHER_TIMEOUT",
		Region: "AWS_REGION", RoleARN: "AWS_ROLE_ARN", RegistryIDs: "AWS_ECR_REGISTRY_IDS", Regions: "ECR_REGIONS", ECRTimeout: "ECR_TIMEOUT",
		AutoCreate: "AUTO_CREATE", Discover: "DISCOVER_REGISTRIES", Interval: "UPDATE_INTERVAL",
	}
}

// named prefixes an error with the variable it is about.
func named(variable string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", variable, err)
}

// loadLog makes the logger: LOG_LEVEL and LOG_FORMAT, every line through the scrubber.
func loadLog(c *cli.Command, stderr io.Writer, scrubber *redact.Scrubber) (*logrus.Logger, error) {
	log := logrus.New()
	log.Out = stderr
	var errs []error
	level, err := parseLevel(get(c, "log-level"))
	if err != nil {
		errs = append(errs, named("LOG_LEVEL", err))
		level = logrus.InfoLevel
	}
	log.SetLevel(level)
	var inner logrus.Formatter = &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339, DisableColors: true}
	switch f := strings.ToLower(get(c, "log-format")); f {
	case "", "text":
	case "json":
		inner = &logrus.JSONFormatter{TimestampFormat: time.RFC3339}
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", get(c, "log-format")))
	}
	log.SetFormatter(&redact.Formatter{Inner: inner, Scrubber: scrubber})
	return log, errors.Join(errs...)
}

// loadRancher reads how to reach Rancher: the URL (parsed here, once: Options carries the Endpoint), the key (read
// by readKeys), the timeout and TLS.
func loadRancher(c *cli.Command, rawURL string, ks keys) (rancher.Options, error) {
	o := rancher.Options{AccessKey: ks.value("CATTLE_ACCESS_KEY"), SecretKey: redact.Secret(ks.value("CATTLE_SECRET_KEY"))}
	errs := []error{requireRancher(rawURL, ks)}
	var err error
	if rawURL != "" {
		o.Endpoint, err = parseCattleURL(rawURL)
		errs = append(errs, err)
	}
	o.Timeout, err = duration(get(c, "rancher-timeout"), defaultRancherTimeout, minTimeout, maxTimeout)
	errs = append(errs, named("RANCHER_TIMEOUT", err))
	if path := get(c, "rancher-ca-cert"); path != "" {
		o.CAPEM, err = readCA(path)
		errs = append(errs, named("RANCHER_CA_CERT", err))
	}
	o.InsecureSkipVerify = c.Bool("rancher-insecure-skip-verify")
	return o, errors.Join(errs...)
}

// requireRancher names, in one message, every one of the three required variables that is not set (a key whose
// _FILE is set counts as set: a problem with its file has a message of its own).
func requireRancher(rawURL string, ks keys) error {
	var missing []string
	for _, m := range []struct {
		variable string
		unset    bool
	}{{"CATTLE_URL", rawURL == ""}, {"CATTLE_ACCESS_KEY", !ks["CATTLE_ACCESS_KEY"].given()}, {"CATTLE_SECRET_KEY", !ks["CATTLE_SECRET_KEY"].given()}} {
		if m.unset {
			missing = append(missing, m.variable)
		}
	}
	verb := "are"
	switch len(missing) {
	case 0:
		return nil
	case 1:
		verb = "is"
	}
	return fmt.Errorf("%s %s not set: give the Rancher API URL and key (the key may come from CATTLE_ACCESS_KEY_FILE and CATTLE_SECRET_KEY_FILE; Rancher sets all three in containers with the agent labels)",
		strings.Join(missing, ", "), verb)
}

// parseCattleURL parses CATTLE_URL, with a hint for a URL without a scheme.
func parseCattleURL(raw string) (rancher.Endpoint, error) {
	if lower := strings.ToLower(raw); !strings.Contains(raw, "://") && !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		return rancher.Endpoint{}, fmt.Errorf("CATTLE_URL: %q has no scheme: did you mean http://%s (or https://)?", raw, strings.TrimLeft(raw, "/"))
	}
	ep, err := rancher.ParseURL(raw)
	if errors.Is(err, rancher.ErrUserInfo) {
		err = fmt.Errorf("%w: give the keys in CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY", err)
	}
	if err != nil {
		return rancher.Endpoint{}, named("CATTLE_URL", err)
	}
	return ep, nil
}

func readCA(path string) ([]byte, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(pem), "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pem, nil
}

// loadEnvironments reads RANCHER_ENVIRONMENTS: ids, names (any name Rancher accepts; a comma inside a name is
// written \,) or all.
func loadEnvironments(raw string, ep rancher.Endpoint) ([]string, error) {
	names := escapedList(raw)
	for _, n := range names {
		if err := checkEnvironmentName(n); err != nil {
			return nil, named("RANCHER_ENVIRONMENTS", err)
		}
	}
	if len(names) > 0 && ep.Project != "" {
		return nil, errors.New("RANCHER_ENVIRONMENTS needs CATTLE_URL without /projects/<id> (the server root, /v1 or /v2-beta), with an account API key")
	}
	return names, nil
}

// maxEnvironmentName bounds one name of RANCHER_ENVIRONMENTS (Cattle stores names in a 255-character column).
const maxEnvironmentName = 255

// checkEnvironmentName accepts any printable name: letters of any script, spaces, punctuation.
func checkEnvironmentName(n string) error {
	if !utf8.ValidString(n) {
		return fmt.Errorf("%q is not valid UTF-8", n)
	}
	if utf8.RuneCountInString(n) > maxEnvironmentName {
		return fmt.Errorf("%.20q... is longer than %d characters", n, maxEnvironmentName)
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q holds a control character", n)
		}
	}
	return nil
}

// escapedList splits a comma list where \, is a comma inside an item and \\ a backslash; any other backslash
// stays as it is. Items are trimmed; empty items are dropped.
func escapedList(s string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if v := strings.TrimSpace(b.String()); v != "" {
			out = append(out, v)
		}
		b.Reset()
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == '\\'):
			i++
			b.WriteByte(s[i])
		case s[i] == ',':
			flush()
		default:
			b.WriteByte(s[i])
		}
	}
	flush()
	return out
}

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

// loadAWS reads the AWS side: home region, static keys (read by readKeys), role and timeout.
func loadAWS(c *cli.Command, ks keys) (ecr.Config, error) {
	var errs []error
	region := get(c, "aws-region")
	if region != "" && !ecr.ValidRegion(region) {
		errs = append(errs, fmt.Errorf("AWS_REGION: %q is not an AWS region name", region))
	}
	cfg := ecr.Config{HomeRegion: region, RoleARN: get(c, "aws-role-arn"), WebIdentityTokenFile: os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE"),
		Keys: ks.awsKeys()}
	errs = append(errs, checkStaticKeys(ks))
	if cfg.RoleARN != "" {
		if !roleARNRE.MatchString(cfg.RoleARN) {
			errs = append(errs, fmt.Errorf("AWS_ROLE_ARN: %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", cfg.RoleARN))
		}
		if region == "" && cfg.WebIdentityTokenFile == "" {
			errs = append(errs, errors.New("AWS_ROLE_ARN needs AWS_REGION: the role is assumed through the regional STS"))
		}
	}
	var err error
	cfg.Timeout, err = duration(get(c, "ecr-timeout"), defaultECRTimeout, minTimeout, maxTimeout)
	errs = append(errs, named("ECR_TIMEOUT", err))
	return cfg, errors.Join(errs...)
}

// checkStaticKeys refuses half a static key pair, which the SDK would silently pass over for another source; each
// key counts whether it came from its variable or its file.
func checkStaticKeys(ks keys) error {
	id, secret, token := ks["AWS_ACCESS_KEY_ID"], ks["AWS_SECRET_ACCESS_KEY"], ks["AWS_SESSION_TOKEN"]
	switch {
	case id.given() && !secret.given():
		return fmt.Errorf("AWS_SECRET_ACCESS_KEY is not set (nor AWS_SECRET_ACCESS_KEY_FILE), but %s is: set both, or neither to use another credential source", setName("AWS_ACCESS_KEY_ID", id))
	case secret.given() && !id.given():
		return fmt.Errorf("AWS_ACCESS_KEY_ID is not set (nor AWS_ACCESS_KEY_ID_FILE), but %s is: set both, or neither to use another credential source", setName("AWS_SECRET_ACCESS_KEY", secret))
	case !id.given() && token.given():
		return fmt.Errorf("%s is set without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their _FILE): set all three, or none", setName("AWS_SESSION_TOKEN", token))
	}
	return nil
}

// setName is the variable that set a key: name, or name_FILE.
func setName(name string, k key) string {
	if k.file != "" {
		return name + "_FILE"
	}
	return name
}

// loadScope reads which registries are in scope and whether AUTO_CREATE creates them.
func loadScope(c *cli.Command, region string) (updater.Rules, error) {
	r := updater.Rules{HomeRegion: region, AutoCreate: c.Bool("auto-create")}
	var errs []error
	for _, id := range list(get(c, "registry-ids")) {
		if !ecr.ValidAccount(id) {
			errs = append(errs, fmt.Errorf("AWS_ECR_REGISTRY_IDS: %q is not a 12-digit AWS account id", id))
		}
		r.Accounts = append(r.Accounts, id)
	}
	for _, reg := range list(get(c, "ecr-regions")) {
		reg = strings.ToLower(reg)
		if !ecr.ValidRegion(reg) {
			errs = append(errs, fmt.Errorf("ECR_REGIONS: %q is not an AWS region name", reg))
		}
		r.Regions = append(r.Regions, reg)
	}
	if r.AutoCreate {
		if region == "" {
			errs = append(errs, errors.New("AUTO_CREATE needs AWS_REGION: registries are created in that region"))
		} else if len(r.Regions) > 0 && !slices.Contains(r.Regions, region) {
			errs = append(errs, fmt.Errorf("ECR_REGIONS leaves out AWS_REGION %s, where AUTO_CREATE creates registries", region))
		}
	}
	return r, errors.Join(errs...)
}

func listenPort(c *cli.Command) (int, error) {
	port, err := integer(get(c, "listen-port"), defaultListenPort, 0, 65535)
	return port, named("LISTEN_PORT", err)
}

// logStart logs the effective configuration, every secret redacted.
func (s *settings) logStart(command string) {
	u := s.updater
	aws := "default chain"
	if id := s.keys.startField("AWS_ACCESS_KEY_ID"); id != "(not set)" {
		aws = "AWS_ACCESS_KEY_ID " + id
	} else if p := os.Getenv("AWS_PROFILE"); p != "" {
		aws = "AWS_PROFILE " + p
	}
	s.log.WithFields(logrus.Fields{
		"command": command, "version": version, "commit": commit,
		"cattle_url": s.rancherURL, "cattle_access_key": s.keys.startField("CATTLE_ACCESS_KEY"), "cattle_secret_key": s.keys.startField("CATTLE_SECRET_KEY"),
		"rancher_environments": strings.Join(u.Environments, ","), "rancher_timeout": shortDuration(u.Rancher.Timeout),
		"rancher_ca_cert": len(u.Rancher.CAPEM) > 0, "rancher_insecure_skip_verify": u.Rancher.InsecureSkipVerify,
		"rancher_concurrency": u.Concurrency,
		"aws_region":          u.Rules.HomeRegion, "aws_credentials": aws, "aws_secret_access_key": s.keys.startField("AWS_SECRET_ACCESS_KEY"),
		"aws_session_token": s.keys.startField("AWS_SESSION_TOKEN"), "aws_role_arn": u.ECR.RoleARN,
		"aws_ecr_registry_ids": strings.Join(u.Rules.Accounts, ","), "ecr_regions": strings.Join(u.Rules.Regions, ","),
		"ecr_timeout": shortDuration(u.ECR.Timeout), "auto_create": u.Rules.AutoCreate, "dry_run": u.DryRun, "events": u.Events,
		"discover_registries": u.Rules.Discover,
		"update_interval":     shortDuration(u.Interval), "listen_port": s.listenPort, "log_level": s.log.GetLevel().String(),
	}).Info("starting")
	if u.Rancher.InsecureSkipVerify {
		s.log.Warn("RANCHER_INSECURE_SKIP_VERIFY is on: the Rancher server's TLS certificate is NOT verified; anyone on the network path can read the API keys and ECR passwords. Use RANCHER_CA_CERT instead.")
	}
	if u.DryRun {
		s.log.Warn("DRY_RUN is on: nothing will be written to Rancher")
	}
}

func runOnce(ctx context.Context, c *cli.Command, stderr io.Writer, scrubber *redact.Scrubber) error {
	s, err := load(c, stderr, scrubber)
	if err != nil {
		return err
	}
	s.logStart("once")
	defer logStopping(ctx, s.log)()
	u, err := updater.New(ctx, s.updater)
	if err != nil {
		return configErr("%v", err)
	}
	defer u.Close()
	res := u.Pass(ctx)
	var cfgErr *updater.ConfigError
	switch {
	case errors.As(res.Err, &cfgErr):
		return &exitError{code: exitConfig, err: cfgErr}
	case !res.OK():
		return &exitError{code: exitFailed, err: errors.New("")}
	}
	return nil
}

func runDaemon(ctx context.Context, c *cli.Command, stderr io.Writer, scrubber *redact.Scrubber) error {
	s, err := load(c, stderr, scrubber)
	if err != nil {
		return err
	}
	s.logStart("run")
	defer logStopping(ctx, s.log)()
	reg := promtext.NewRegistry()
	s.updater.Metrics = updater.NewMetrics(reg, version, commit)
	u, err := updater.New(ctx, s.updater)
	if err != nil {
		return configErr("%v", err)
	}
	defer u.Close()

	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	if s.listenPort != 0 {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.listenPort))
		if err != nil {
			stopServing()
			return &exitError{code: exitFailed, err: fmt.Errorf("LISTEN_PORT: %w", err)}
		}
		s.log.WithField("address", ln.Addr().String()).Info("serving /ping, /livez, /healthz, /readyz and /metrics")
		go func() { served <- updater.Serve(serveCtx, ln, updater.Handler(u.Health(), reg), s.log) }()
	} else {
		served <- nil
	}
	runErr := u.Run(ctx)
	stopServing()
	if err := <-served; err != nil {
		s.log.Warn("health server: " + err.Error())
	}
	var cfgErr *updater.ConfigError
	if errors.As(runErr, &cfgErr) {
		return &exitError{code: exitConfig, err: cfgErr}
	}
	return runErr
}

// parseLevel reads every logrus level name in any case. panic and fatal log at error level: the daemon never
// exits or panics because of a log line.
func parseLevel(s string) (logrus.Level, error) {
	if s == "" {
		s = defaultLogLevel
	}
	level, err := logrus.ParseLevel(strings.ToLower(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not trace, debug, info, warn, warning, error, fatal or panic", s)
	}
	if level < logrus.ErrorLevel {
		level = logrus.ErrorLevel
	}
	return level, nil
}

// duration reads a Go duration from lo to hi (hi 0: no upper bound); empty means def.
func duration(s string, def, lo, hi time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 6h, 30m or 10s", s)
	}
	if d < lo {
		return 0, fmt.Errorf("%q is shorter than %s", s, shortDuration(lo))
	}
	if hi > 0 && d > hi {
		return 0, fmt.Errorf("%q is longer than %s", s, shortDuration(hi))
	}
	return d, nil
}

// parseBool reads every strconv.ParseBool form (1, t, true, 0, f, false) in any case, plus yes/no and on/off;
// empty is false.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "f", "false", "no", "off":
		return false, nil
	case "1", "t", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean: give true or false (also 1/0, t/f, yes/no, on/off)", s)
}

func integer(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
