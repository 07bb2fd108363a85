// Command ecr-updater keeps AWS ECR pull credentials fresh in the registries of Rancher 1.6 environments.
//
// main.go only wires flags (each bound to the environment variable the old rancher-ecr-credentials image read)
// to the packages: rancher (the v2-beta API), ecr (AWS) and updater (the rules and the schedule).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/demo"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// Set at link time: -ldflags "-X main.version=v1.0.0 -X main.commit=abc1234".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
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

// flag is a string flag bound to an environment variable; an empty value means "not set".
func flag(name, env, value, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Sources: cli.EnvVars(env), Value: value, Usage: usage, HideDefault: value == ""}
}

func flags() []cli.Flag {
	return []cli.Flag{
		flag("cattle-url", "CATTLE_URL", "", "Rancher API URL: http://host:8080/v1 (agent), the server root, /v2-beta, or an Environment API Endpoint /v2-beta/projects/<id>"),
		flag("cattle-access-key", "CATTLE_ACCESS_KEY", "", "Rancher API access key (environment or account key)"),
		flag("cattle-secret-key", "CATTLE_SECRET_KEY", "", "Rancher API secret key (prefer the environment variable)"),
		&cli.StringFlag{Name: "aws-region", Sources: cli.EnvVars("AWS_REGION", "AWS_DEFAULT_REGION"),
			Usage: "home AWS region: STS for AWS_ROLE_ARN, and where AUTO_CREATE creates registries"},
		flag("aws-role-arn", "AWS_ROLE_ARN", "", "IAM role to assume through the regional STS (unless AWS_WEB_IDENTITY_TOKEN_FILE is set)"),
		flag("registry-ids", "AWS_ECR_REGISTRY_IDS", "", "comma list of 12-digit AWS accounts: only their registries are refreshed"),
		flag("ecr-regions", "ECR_REGIONS", "", "comma list of AWS regions: only their registries are refreshed"),
		flag("auto-create", "AUTO_CREATE", "false", "create the registry of the caller's account (or of each AWS_ECR_REGISTRY_IDS account) in AWS_REGION when missing"),
		flag("update-interval", "UPDATE_INTERVAL", "6h", "longest time between passes (Go duration); passes come sooner when tokens live shorter"),
		flag("dry-run", "DRY_RUN", "false", "compute and log the plan, write nothing"),
		flag("log-level", "LOG_LEVEL", "info", "debug, info, warn or error (any case)"),
		flag("log-format", "LOG_FORMAT", "text", "text or json"),
		flag("listen-port", "LISTEN_PORT", "8080", "port of /ping, /healthz, /readyz and /metrics (0 turns them off)"),
		flag("rancher-timeout", "RANCHER_TIMEOUT", "10s", "deadline of each Rancher request"),
		flag("ecr-timeout", "ECR_TIMEOUT", "30s", "deadline of each ECR token fetch, retries included"),
		flag("rancher-ca-cert", "RANCHER_CA_CERT", "", "PEM file of a CA to trust for the Rancher server"),
		flag("rancher-insecure-skip-verify", "RANCHER_INSECURE_SKIP_VERIFY", "false", "do not verify the Rancher server's TLS certificate (unsafe)"),
		flag("rancher-environments", "RANCHER_ENVIRONMENTS", "", "comma list of environment ids or names, or all (needs an account API key)"),
		flag("rancher-concurrency", "RANCHER_CONCURRENCY", "8", "Rancher requests in flight at most"),
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := &cli.Command{
		Name:  "ecr-updater",
		Usage: "keep AWS ECR pull credentials fresh in Rancher 1.6 registries",
		Description: "Every pass lists the registries of the Rancher environment(s), fetches one ECR token per AWS region in use,\n" +
			"and writes the region's password into every active credential of every ECR registry.\n" +
			"All settings come from environment variables (shown in brackets) or flags; an empty value means unset.\n" +
			"AWS credentials come from the SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n" +
			"AWS_PROFILE, web identity, the ECS task role, or the EC2 instance role.",
		Flags:          flags(),
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Action: func(ctx context.Context, c *cli.Command) error {
			if c.Args().Present() {
				return configErr("unknown command %q (see --help)", c.Args().First())
			}
			return runDaemon(ctx, c, stderr)
		},
		OnUsageError: func(_ context.Context, _ *cli.Command, err error, _ bool) error {
			return &exitError{code: exitConfig, err: err}
		},
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "run a pass now and then on schedule until SIGTERM or SIGINT (the default)",
				Action: func(ctx context.Context, c *cli.Command) error {
					return runDaemon(ctx, c, stderr)
				},
			},
			{
				Name:  "once",
				Usage: "run one pass; exit 0 when every in-scope registry was written, 1 when anything failed, 2 for configuration errors",
				Action: func(ctx context.Context, c *cli.Command) error {
					return runOnce(ctx, c, stderr)
				},
			},
			doctorCommand(stdout, stderr), // doctor_cmd.go
			{
				Name:  "healthcheck",
				Usage: "ask the running daemon's /healthz on LISTEN_PORT; exit 0 when healthy, 1 otherwise",
				Action: func(ctx context.Context, c *cli.Command) error {
					port, err := listenPort(c)
					if err != nil {
						return err
					}
					if port == 0 {
						return &exitError{code: exitFailed, err: errors.New("LISTEN_PORT is 0: the daemon serves no health endpoint")}
					}
					if err := updater.Probe(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); err != nil {
						return &exitError{code: exitFailed, err: err}
					}
					return nil
				},
			},
			{
				Name:  "version",
				Usage: "print the version, commit and Go version",
				Action: func(_ context.Context, c *cli.Command) error {
					_, err := fmt.Fprintf(stdout, "ecr-updater %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
					return err
				},
			},
			{
				Name:  "demo",
				Usage: "run the real updater loop against built-in Rancher and ECR stand-ins and print what changes, pass by pass",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "passes", Usage: "stop after this many passes (0: until Ctrl-C)"},
					&cli.DurationFlag{Name: "token-ttl", Value: 10 * time.Second, Usage: "lifetime of the stand-in's ECR tokens"},
				},
				Action: func(ctx context.Context, c *cli.Command) error {
					level := "warn" // the tables say what happens; LOG_LEVEL adds the log lines
					if c.IsSet("log-level") {
						level = c.String("log-level")
					}
					err := demo.Run(ctx, demo.Options{Passes: c.Int("passes"), TokenTTL: c.Duration("token-ttl"),
						Out: stdout, Log: stderr, LogLevel: level})
					if err != nil {
						return &exitError{code: exitFailed, err: err}
					}
					return nil
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
		if ee.err.Error() != "" {
			fmt.Fprintln(stderr, "ecr-updater:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "ecr-updater:", err)
	return exitConfig // urfave/cli's own errors are about flags and arguments
}

// settings is the validated configuration of the daemon.
type settings struct {
	updater    updater.Config
	listenPort int
	log        *logrus.Logger
	scrubber   *redact.Scrubber
}

var (
	envIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]*$`)
	roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)
)

// load validates every setting; each error names the variable.
func load(ctx context.Context, c *cli.Command, stderr io.Writer) (*settings, error) {
	s := &settings{scrubber: redact.NewScrubber()}
	get := func(name string) string { return strings.TrimSpace(c.String(name)) }

	// Logging first, so that the rest can be reported.
	log := logrus.New()
	log.Out = stderr
	level, err := parseLevel(get("log-level"))
	if err != nil {
		return nil, configErr("LOG_LEVEL: %v", err)
	}
	log.SetLevel(level)
	var inner logrus.Formatter
	switch strings.ToLower(get("log-format")) {
	case "", "text":
		inner = &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339, DisableColors: true}
	case "json":
		inner = &logrus.JSONFormatter{TimestampFormat: time.RFC3339}
	default:
		return nil, configErr("LOG_FORMAT: %q is not text or json", get("log-format"))
	}
	log.SetFormatter(&redact.Formatter{Inner: inner, Scrubber: s.scrubber})
	s.log = log

	secret := redact.Secret(c.String("cattle-secret-key"))
	s.scrubber.Add(secret, redact.Secret(os.Getenv("AWS_SECRET_ACCESS_KEY")), redact.Secret(os.Getenv("AWS_SESSION_TOKEN")))

	u := &s.updater
	u.Log = log
	u.Scrubber = s.scrubber

	// Rancher.
	cattleURL := get("cattle-url")
	if cattleURL == "" {
		return nil, configErr("CATTLE_URL is not set: give the Rancher API URL (Rancher sets it in containers with the agent labels)")
	}
	ep, err := rancher.ParseURL(cattleURL)
	if err != nil {
		return nil, configErr("CATTLE_URL: %v", err)
	}
	if get("cattle-access-key") == "" {
		return nil, configErr("CATTLE_ACCESS_KEY is not set")
	}
	if secret.Empty() {
		return nil, configErr("CATTLE_SECRET_KEY is not set")
	}
	u.Rancher = rancher.Options{URL: cattleURL, AccessKey: get("cattle-access-key"), SecretKey: secret}
	if u.Rancher.Timeout, err = duration(get("rancher-timeout"), 10*time.Second); err != nil {
		return nil, configErr("RANCHER_TIMEOUT: %v", err)
	}
	if path := get("rancher-ca-cert"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, configErr("RANCHER_CA_CERT: %v", err)
		}
		if !strings.Contains(string(pem), "-----BEGIN CERTIFICATE-----") {
			return nil, configErr("RANCHER_CA_CERT: %s holds no PEM certificate", path)
		}
		u.Rancher.CAPEM = pem
	}
	if u.Rancher.InsecureSkipVerify, err = boolean(get("rancher-insecure-skip-verify")); err != nil {
		return nil, configErr("RANCHER_INSECURE_SKIP_VERIFY: %v", err)
	}
	if u.Concurrency, err = integer(get("rancher-concurrency"), 8, 1, 64); err != nil {
		return nil, configErr("RANCHER_CONCURRENCY: %v", err)
	}
	for _, e := range list(get("rancher-environments")) {
		if !envIDRE.MatchString(e) {
			return nil, configErr("RANCHER_ENVIRONMENTS: %q is not an environment id or name", e)
		}
		u.Environments = append(u.Environments, e)
	}
	if len(u.Environments) > 0 && ep.Project != "" {
		return nil, configErr("RANCHER_ENVIRONMENTS needs CATTLE_URL without /projects/<id> (the server root, /v1 or /v2-beta), with an account API key")
	}

	// AWS.
	region := get("aws-region")
	if region != "" && !ecr.ValidRegion(region) {
		return nil, configErr("AWS_REGION: %q is not an AWS region name", region)
	}
	u.Rules.HomeRegion = region
	u.ECR = ecr.Config{HomeRegion: region, RoleARN: get("aws-role-arn")}
	if u.ECR.RoleARN != "" {
		if !roleARNRE.MatchString(u.ECR.RoleARN) {
			return nil, configErr("AWS_ROLE_ARN: %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", u.ECR.RoleARN)
		}
		if region == "" && os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") == "" {
			return nil, configErr("AWS_ROLE_ARN needs AWS_REGION: the role is assumed through the regional STS")
		}
	}
	if u.ECR.Timeout, err = duration(get("ecr-timeout"), ecr.DefaultTimeout); err != nil {
		return nil, configErr("ECR_TIMEOUT: %v", err)
	}
	for _, id := range list(get("registry-ids")) {
		if !ecr.ValidAccount(id) {
			return nil, configErr("AWS_ECR_REGISTRY_IDS: %q is not a 12-digit AWS account id", id)
		}
		u.Rules.Accounts = append(u.Rules.Accounts, id)
	}
	for _, r := range list(get("ecr-regions")) {
		r = strings.ToLower(r)
		if !ecr.ValidRegion(r) {
			return nil, configErr("ECR_REGIONS: %q is not an AWS region name", r)
		}
		u.Rules.Regions = append(u.Rules.Regions, r)
	}
	if u.Rules.AutoCreate, err = boolean(get("auto-create")); err != nil {
		return nil, configErr("AUTO_CREATE: %v", err)
	}
	if u.Rules.AutoCreate {
		if region == "" {
			return nil, configErr("AUTO_CREATE needs AWS_REGION: registries are created in that region")
		}
		if len(u.Rules.Regions) > 0 && !contains(u.Rules.Regions, region) {
			return nil, configErr("ECR_REGIONS leaves out AWS_REGION %s, where AUTO_CREATE creates registries", region)
		}
	}

	// Schedule and the rest.
	if u.Interval, err = duration(get("update-interval"), 6*time.Hour); err != nil {
		return nil, configErr("UPDATE_INTERVAL: %v", err)
	}
	if u.DryRun, err = boolean(get("dry-run")); err != nil {
		return nil, configErr("DRY_RUN: %v", err)
	}
	if s.listenPort, err = listenPort(c); err != nil {
		return nil, err
	}
	return s, nil
}

func listenPort(c *cli.Command) (int, error) {
	port, err := integer(strings.TrimSpace(c.String("listen-port")), 8080, 0, 65535)
	if err != nil {
		return 0, configErr("LISTEN_PORT: %v", err)
	}
	return port, nil
}

// logStart logs the effective configuration, every secret redacted.
func (s *settings) logStart(command string) {
	u := s.updater
	secret := func(v string) string {
		if v == "" {
			return "(not set)"
		}
		return redact.Marker
	}
	aws := "default chain"
	if id := os.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
		aws = "AWS_ACCESS_KEY_ID " + id
	} else if p := os.Getenv("AWS_PROFILE"); p != "" {
		aws = "AWS_PROFILE " + p
	}
	s.log.WithFields(logrus.Fields{
		"command": command, "version": version, "commit": commit,
		"cattle_url": u.Rancher.URL, "cattle_access_key": u.Rancher.AccessKey, "cattle_secret_key": secret(u.Rancher.SecretKey.Reveal()),
		"rancher_environments": strings.Join(u.Environments, ","), "rancher_timeout": u.Rancher.Timeout.String(),
		"rancher_ca_cert": len(u.Rancher.CAPEM) > 0, "rancher_insecure_skip_verify": u.Rancher.InsecureSkipVerify,
		"rancher_concurrency": u.Concurrency,
		"aws_region":          u.Rules.HomeRegion, "aws_credentials": aws, "aws_secret_access_key": secret(os.Getenv("AWS_SECRET_ACCESS_KEY")),
		"aws_session_token": secret(os.Getenv("AWS_SESSION_TOKEN")), "aws_role_arn": u.ECR.RoleARN,
		"aws_ecr_registry_ids": strings.Join(u.Rules.Accounts, ","), "ecr_regions": strings.Join(u.Rules.Regions, ","),
		"ecr_timeout": u.ECR.Timeout.String(), "auto_create": u.Rules.AutoCreate, "dry_run": u.DryRun,
		"update_interval": u.Interval.String(), "listen_port": s.listenPort, "log_level": s.log.GetLevel().String(),
	}).Info("starting")
	if u.Rancher.InsecureSkipVerify {
		s.log.Warn("RANCHER_INSECURE_SKIP_VERIFY is on: the Rancher server's TLS certificate is NOT verified; anyone on the network path can read the API keys and ECR passwords. Use RANCHER_CA_CERT instead.")
	}
	if u.DryRun {
		s.log.Warn("DRY_RUN is on: nothing will be written to Rancher")
	}
}

func runOnce(ctx context.Context, c *cli.Command, stderr io.Writer) error {
	s, err := load(ctx, c, stderr)
	if err != nil {
		return err
	}
	s.logStart("once")
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

func runDaemon(ctx context.Context, c *cli.Command, stderr io.Writer) error {
	s, err := load(ctx, c, stderr)
	if err != nil {
		return err
	}
	s.logStart("run")
	reg := prometheus.NewRegistry()
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
		s.log.WithField("address", ln.Addr().String()).Info("serving /ping, /healthz, /readyz and /metrics")
		go func() { served <- updater.Serve(serveCtx, ln, updater.Handler(u.Health(), reg)) }()
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

func parseLevel(s string) (logrus.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return logrus.InfoLevel, nil
	case "debug":
		return logrus.DebugLevel, nil
	case "warn", "warning":
		return logrus.WarnLevel, nil
	case "error":
		return logrus.ErrorLevel, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}

func duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 6h, 30m or 10s", s)
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is shorter than one second", s)
	}
	return d, nil
}

func boolean(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
