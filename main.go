// Command ecr-updater keeps AWS ECR pull credentials fresh in the registries of Rancher 1.6 environments.
//
// package main is the one place that knows the environment variables' names. main.go holds the commands and wires
// the settings to the packages: rancher (the v2-beta API), ecr (AWS) and updater (the rules and the schedule). The
// settings are one table (config.go), which makes the flags and --help (flags.go), the loading and checking of
// every value (config.go, values.go, keyfiles.go for values from files), the start line and doctor's summary;
// doctor_cmd.go is the doctor command; signals.go stops the commands gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"

	"github.com/urfave/cli/v3"

	"github.com/ecr-updater/ecr-updater/internal/demo"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Every secret the process learns is scrubbed from what it writes to stderr: log lines and exit messages.
	scrubber := redact.NewScrubber()
	stderr = &redact.Writer{W: stderr, Scrubber: scrubber}
	err := commands(stdout, stderr, scrubber).Run(ctx, args)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		printErrors(stderr, ee.err)
		return ee.code
	}
	fmt.Fprintln(stderr, "ecr-updater:", err)
	return exitConfig // urfave/cli's own errors are about flags and arguments
}

// commands is the command line: the daemon (run, the default), once, doctor, healthcheck, version and demo.
func commands(stdout, stderr io.Writer, scrubber *redact.Scrubber) *cli.Command {
	cmd := &cli.Command{
		Name:  "ecr-updater",
		Usage: "keep AWS ECR pull credentials fresh in Rancher 1.6 registries",
		Description: "Every pass lists the registries of the Rancher environment(s), fetches one ECR token per AWS region in use,\n" +
			"and writes the region's password into every active credential of every ECR registry.\n" +
			"All settings come from environment variables (shown in brackets) or flags; an empty value means unset, and a flag\n" +
			"wins over its variable. Boolean variables take true/false, 1/0, t/f, yes/no or on/off, any case.\n" +
			"AWS credentials come from the SDK's default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,\n" +
			"AWS_PROFILE, web identity, the ECS task role, or the EC2 instance role.\n" +
			"Every key (and a proxy URL with a password, and the Rancher CA) can come from a file instead: <VARIABLE>_FILE,\n" +
			"e.g. a Rancher secret AWS_SECRET_ACCESS_KEY_FILE=/run/secrets/aws_secret_access_key; one trailing newline is\n" +
			"not part of the key. Every problem of the configuration is reported in one run, each naming its variable (exit 2).\n" +
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
		OnUsageError: usageError,
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
				Name: "demo",
				Usage: "run the real updater loop against built-in Rancher and ECR stand-ins and print what changes, pass by pass " +
					"(the daemon's settings do not apply, except --log-level)",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "passes", Usage: "stop after this many passes (0: until Ctrl-C)"},
					&cli.DurationFlag{Name: "token-ttl", Value: demo.DefaultTokenTTL, Usage: "lifetime of the stand-in's ECR tokens (more than 0)"},
				},
				Action: func(ctx context.Context, c *cli.Command) error {
					return runDemo(ctx, c, stdout, stderr)
				},
			},
		},
	}
	for _, sub := range cmd.Commands {
		sub.OnUsageError = usageError
	}
	return cmd
}

// usageError is a mistake on the command line: exit 2, with the command meant when a command was given as a flag.
func usageError(_ context.Context, c *cli.Command, err error, _ bool) error {
	return &exitError{code: exitConfig, err: commandAsFlag(c.Root(), err)}
}

var undefinedFlagRE = regexp.MustCompile(`^flag provided but not defined: -+(\S+)$`)

// commandAsFlag answers a command given as a flag (--once, or --version after a command) with the command.
func commandAsFlag(root *cli.Command, err error) error {
	m := undefinedFlagRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	for _, c := range root.Commands {
		if c.Name == m[1] {
			return fmt.Errorf("--%s is not a flag: did you mean the command `%s`? (ecr-updater %s)", m[1], m[1], m[1])
		}
	}
	return err
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

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ecr-updater %s (commit %s, %s %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
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
			return &exitError{code: exitFailed, err: named(name(setting.ListenPort), err)}
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
	var cfgErr *setting.Error
	if errors.As(runErr, &cfgErr) {
		return &exitError{code: exitConfig, err: cfgErr}
	}
	return runErr
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
	var cfgErr *setting.Error
	switch {
	case errors.As(res.Err, &cfgErr):
		return &exitError{code: exitConfig, err: cfgErr}
	case !res.OK():
		return &exitError{code: exitFailed, err: errors.New("")}
	}
	return nil
}

// healthcheck asks the running daemon's /livez, which fails only when its loop is wedged: the image's HEALTHCHECK
// runs it, and the catalog's health check asks /livez too, so whatever restarts an unhealthy container restarts
// it only for what a restart can fix. --status asks /healthz, which also fails for a key or a Rancher that fails.
func healthcheck(ctx context.Context, c *cli.Command) error {
	s, _, err := loadOne(c, setting.ListenPort)
	if err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	if s.listenPort == 0 {
		return &exitError{code: exitFailed, err: errors.New(name(setting.ListenPort) + " is 0: the daemon serves no health endpoint")}
	}
	path := "/livez"
	if c.Bool("status") {
		path = "/healthz"
	}
	if err := updater.Probe(ctx, fmt.Sprintf("http://127.0.0.1:%d%s", s.listenPort, path)); err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

// runDemo runs the demo. The daemon's settings do not apply to it: it runs the updater against its own stand-ins,
// with settings of its own. Given as flags they are refused (--dry-run would promise what the demo does not do);
// as variables (a shell or a container set up for the daemon) they are not read. LOG_LEVEL (or --log-level) alone
// applies: it adds the updater's log lines to the tables.
func runDemo(ctx context.Context, c *cli.Command, stdout, stderr io.Writer) error {
	var errs []error
	if n := c.Int("passes"); n < 0 {
		errs = append(errs, fmt.Errorf("--passes: %d is negative; give 0 (run until Ctrl-C) or more", n))
	}
	if ttl := c.Duration("token-ttl"); ttl <= 0 {
		errs = append(errs, fmt.Errorf("--token-ttl: %s is not a lifetime; give a positive duration such as %s", ttl, shortDuration(demo.DefaultTokenTTL)))
	}
	errs = append(errs, daemonFlagsGiven(c, setting.LogLevel)...)
	s, given, err := loadOne(c, setting.LogLevel)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: exitConfig, err: err}
	}
	level := "warn" // the tables say what happens; LOG_LEVEL adds the log lines
	if given {
		level = s.logLevel.String()
	}
	err = demo.Run(ctx, demo.Options{Passes: c.Int("passes"), TokenTTL: c.Duration("token-ttl"), Out: stdout, Log: stderr, LogLevel: level})
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	return nil
}

// daemonFlagsGiven refuses the daemon's flags given on the command line, but those of the settings that apply.
func daemonFlagsGiven(c *cli.Command, apply ...setting.ID) []error {
	var errs []error
	for _, r := range table() {
		for _, flag := range r.flagNames() {
			if c.IsSet(flag) && !slices.Contains(apply, r.id) {
				errs = append(errs, fmt.Errorf("--%s does not apply to %s, which runs against its own stand-ins with its own settings: leave it out", flag, c.Name))
			}
		}
	}
	return errs
}
