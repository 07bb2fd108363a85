// Package doctor owns `ecr-updater doctor`: with the configuration the daemon would run with, it checks everything
// a pull from ECR through Rancher depends on, and reports one line per check (what, ok / warn / FAIL, and the fix
// in one line), as a table or as JSON. It reads only: no write to Rancher, no change in AWS.
//
// The checks, in order: the configuration, and where each key came from (a warning for a secret in a plain
// variable); Rancher reachable, the key's kind and scope, every environment served
// and whether the key may create and update registries and credentials there (from the schemas' methods);
// AWS: the credential source the SDK resolved, the caller identity (STS GetCallerIdentity), a token for every
// region in use; every in-scope registry: its address is one Rancher can match, it has an active credential, and
// its region's token opens it (GET https://<host>/v2/ answers 200); every ECR image the environments' services
// use (launchConfig and secondaryLaunchConfigs) has a registry Rancher will use for it.
//
// It reads the world with the pass's own steps (updater.ResolveEnvironments, updater.ReadEnv, updater.FetchTokens)
// and judges it with the rules of a pass (plan.ClassifyRegistry, plan.Classify, plan.Regions, plan.Plan,
// plan.RegistryFor), so that what it reports is what the daemon would do. The work is concurrent
// (RANCHER_CONCURRENCY Rancher requests, a few token fetches and registry checks at a time) and bounded by
// Config.Budget.
//
// Every line of the report is a value of one Line of one table (Kinds, checks.go), which `doctor --help` and the
// README list. The files: doctor.go the report and the run, rancher.go the Rancher checks and the reads, aws.go
// the AWS checks and the tokens, registries.go and images.go the registries and the images of each environment,
// keys.go where each key came from, output.go the table and the JSON.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// Result is the outcome of one check.
type Result string

const (
	OK   Result = "ok"
	Warn Result = "warn" // worth knowing; no pull fails because of it
	Fail Result = "FAIL" // a pull would fail (or the updater cannot do its job)
)

// Check is one line of the report: a value of one Line of the table (Kinds).
type Check struct {
	// Check says what was checked, e.g. "rancher: reachable" or "env 1a5 (Default): registry 1sp3": the name of its
	// Line with the placeholders filled in.
	Check  string `json:"check"`
	Result Result `json:"result"`
	// Detail is what was found; Fix, for a warning or failure, what to do, in one line.
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
	// For scripts: what the check is about, when it is about one of these.
	Env      string   `json:"env,omitempty"`
	Registry string   `json:"registry,omitempty"`
	Host     string   `json:"host,omitempty"`
	Region   string   `json:"region,omitempty"`
	Services []string `json:"services,omitempty"`

	line Line
	// The table folds the ok lines of one group of an environment into one line (JSON keeps each), a line of
	// foldLine checking foldAs.
	group, item, foldAs string
	foldLine            Line
}

// Exit statuses.
const (
	ExitOK     = 0
	ExitFailed = 1 // something would make a pull fail
	ExitConfig = 2 // the configuration is invalid
)

// Report is what a run found.
type Report struct {
	Checks   []Check       `json:"checks"`
	Duration time.Duration `json:"-"`
	// Config is set when the run found a configuration error (exit 2).
	Config bool `json:"-"`
}

// Exit is the exit status the report calls for: 2 for a configuration error, 1 when any check failed, else 0.
func (r *Report) Exit() int {
	if r.Config {
		return ExitConfig
	}
	for _, c := range r.Checks {
		if c.Result == Fail {
			return ExitFailed
		}
	}
	return ExitOK
}

// Count returns how many checks had each result.
func (r *Report) Count(res Result) int {
	n := 0
	for _, c := range r.Checks {
		if c.Result == res {
			n++
		}
	}
	return n
}

// ConfigReport is the report of a configuration that could not be loaded: one failed check, exit 2.
func ConfigReport(err error) *Report {
	return &Report{Config: true, Checks: []Check{{line: lineConfiguration, Check: "configuration", Result: Fail, Detail: err.Error(),
		Fix: "set the variable the message names (ecr-updater --help lists them); the daemon refuses to start with this configuration"}}}
}

// Config is what doctor runs with: the daemon's configuration, as main loads it.
type Config struct {
	Updater updater.Config
	// Summary describes the loaded configuration in one line (no secrets), for the first check.
	Summary string
	// Keys say where each key came from: one line each after the first check (keys.go).
	Keys []Key
	// Budget bounds the whole run; 0 means DefaultBudget.
	Budget time.Duration
}

// DefaultBudget bounds a run when Config.Budget is zero: well within a minute.
const DefaultBudget = 45 * time.Second

// registryChecks bounds the GET /v2/ in flight (the token fetches are bounded as a pass bounds them).
const registryChecks = 8

// run is one doctor run.
type run struct {
	// names are the names of the lines (Kinds).
	names map[Line]string
	cfg   Config
	rules plan.Rules
	log   logrus.FieldLogger
	ecr   *ecr.Client
	// kind is the Rancher key's kind, when Rancher answered.
	kind     string
	answered bool

	mu     sync.Mutex
	checks []Check
}

// check is a line of l: its check is l's name with the placeholders filled in by args, in order.
func (r *run) check(l Line, args ...string) Check {
	return Check{line: l, Check: fill(r.names[l], args)}
}

func (r *run) add(c Check) {
	r.mu.Lock()
	r.checks = append(r.checks, c)
	r.mu.Unlock()
}

// env is what was read of one environment.
type env struct {
	target     *updater.EnvResult
	label      string
	ok         bool // registries and credentials read
	servicesOK bool // services read
	regs       []rancher.Registry
	creds      []rancher.Credential
	services   []rancher.Service
	checks     []Check // the environment's own lines, in order
	// autoCreate are the hosts AUTO_CREATE or DISCOVER_REGISTRIES create on the next pass.
	autoCreate map[string]bool
}

// check is a line of l about the environment: the environment is its first placeholder, args fill the others.
func (e *env) check(r *run, l Line, args ...string) Check {
	c := r.check(l, append([]string{e.label}, args...)...)
	c.Env = e.target.ID
	return c
}

// snapshot is what a pass would plan with: what was read.
func (e *env) snapshot() plan.Snapshot {
	return plan.Snapshot{Env: e.target.ID, Registries: e.regs, Credentials: e.creds, Services: e.services}
}

// Run runs every check and returns the report. It never writes to Rancher.
func Run(ctx context.Context, cfg Config) *Report {
	start := time.Now()
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Budget)
	defer cancel()
	log := cfg.Updater.Log
	if log == nil {
		l := logrus.New()
		l.Out = discard{}
		log = l
	}
	r := &run{cfg: cfg, rules: cfg.Updater.Rules, names: lineNames(), log: log}
	rep := &Report{}
	defer func() { rep.Duration = time.Since(start) }()

	summary := cfg.Summary
	if summary == "" {
		summary = "loaded"
	}
	c := r.check(lineConfiguration)
	c.Result, c.Detail = OK, summary
	r.add(c)

	ecrCfg := cfg.Updater.ECR
	ecrCfg.Scrubber = cfg.Updater.Scrubber
	if ecrCfg.Log == nil {
		ecrCfg.Log = log // the AWS SDK's own lines, in the daemon's level and format
	}
	client, err := ecr.New(ctx, ecrCfg)
	if err != nil {
		c := r.check(lineAWSConfiguration)
		c.Result, c.Detail, c.Fix = Fail, err.Error(), "fix the AWS configuration the message names (AWS_PROFILE, the shared files, AWS_CA_BUNDLE)"
		rep.Config, rep.Checks = true, append(r.checks, c)
		return rep
	}
	r.ecr = client

	// AWS identity and Rancher at once: neither needs the other.
	var identity sync.WaitGroup
	var awsChecks []Check
	identity.Add(1)
	go func() {
		defer identity.Done()
		awsChecks = r.identity(ctx)
	}()
	envs, cfgErr := r.rancher(ctx)
	identity.Wait()
	r.checks = append(r.checks, awsChecks...)
	r.checks = slices.Insert(r.checks, 1, keyChecks(cfg.Keys, r.kind, r.answered, r.ecr.CredentialSource())...)
	if cfgErr != nil {
		c := r.check(lineConfiguration)
		c.Result, c.Detail = Fail, cfgErr.Error()
		c.Fix = setting.Environments.String() + " can name other environments only with an Account API key; remove it, or use an Account API key"
		r.add(c)
		rep.Config, rep.Checks = true, r.checks
		return rep
	}
	r.environments(ctx, envs)
	if c, late := r.late(ctx); late {
		r.add(c)
	}
	rep.Checks = r.checks
	return rep
}

// environments checks what was read of the environments: the tokens of the regions in use, the registries and
// the images of the services.
func (r *run) environments(ctx context.Context, envs []*env) {
	var classes []plan.Classes
	for _, e := range envs {
		if e.ok {
			classes = append(classes, plan.Classify(r.rules, e.snapshot()))
		}
	}
	tokens := r.tokens(ctx, plan.Regions(r.rules, classes), len(envs) > 0)
	r.registries(ctx, envs, tokens)
	for _, e := range envs {
		r.images(e)
	}
	for _, e := range envs {
		r.checks = append(r.checks, e.checks...)
	}
}

// late is the line of a run that ran out of time, or was stopped.
func (r *run) late(ctx context.Context) (Check, bool) {
	c := r.check(lineTime)
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		c.Result, c.Detail = Fail, fmt.Sprintf("the checks did not finish within %s", r.cfg.Budget)
		c.Fix = "the checks above that failed for lack of time did not get an answer in time: check the network path and " + setting.RancherTimeout.String() + "/" + setting.ECRTimeout.String()
	case err != nil:
		c.Result, c.Detail, c.Fix = Fail, "stopped before the checks finished: "+err.Error(), "run it again"
	default:
		return c, false
	}
	return c, true
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// idLess orders Cattle ids ("1sp9" < "1sp10").
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// names lists the first few services, and how many more.
func names(list []string) string {
	const show = 3
	if len(list) <= show {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:show], ", ") + fmt.Sprintf(" and %d more", len(list)-show)
}
