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
// It judges the world with the rules of a pass (updater.Classify, updater.Regions, updater.Plan), so that what
// it reports is what the daemon would do. The work is concurrent (RANCHER_CONCURRENCY Rancher requests, a few
// token fetches and registry checks at a time) and bounded by Config.Budget.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/setting"
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

// Check is one line of the report.
type Check struct {
	// Check says what was checked, e.g. "rancher: reachable" or "env 1a5 (Default): registry 1sp3".
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

	// The table folds the ok lines of one group of an environment into one line (JSON keeps each).
	group, item, foldAs string
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
	return &Report{Config: true, Checks: []Check{{Check: "configuration", Result: Fail, Detail: err.Error(),
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

// registryChecks bounds the GET /v2/ in flight; maxTokenFetches the token fetches (as a pass does).
const (
	registryChecks = 8
)

// run is one doctor run.
type run struct {
	// n names the settings in details and fixes (the names main.go gave, or neutral words).
	n     setting.Names
	cfg   Config
	rules updater.Rules
	log   logrus.FieldLogger
	ecr   *ecr.Client
	// kind is the Rancher key's kind, when Rancher answered.
	kind     string
	answered bool

	mu     sync.Mutex
	checks []Check
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
	cfg.Updater = cfg.Updater.WithNames()
	r := &run{cfg: cfg, rules: cfg.Updater.Rules, n: cfg.Updater.Names, log: log}
	rep := &Report{}
	defer func() { rep.Duration = time.Since(start) }()

	summary := cfg.Summary
	if summary == "" {
		summary = "loaded"
	}
	r.add(Check{Check: "configuration", Result: OK, Detail: summary})

	ecrCfg := cfg.Updater.ECR
	ecrCfg.Scrubber = cfg.Updater.Scrubber
	if ecrCfg.Log == nil {
		ecrCfg.Log = log // the AWS SDK's own lines, in the daemon's level and format
	}
	client, err := ecr.New(ctx, ecrCfg)
	if err != nil {
		rep.Config = true
		rep.Checks = append(r.checks, Check{Check: "aws: configuration", Result: Fail, Detail: err.Error(),
			Fix: "fix the AWS configuration the message names (AWS_PROFILE, the shared files, AWS_CA_BUNDLE)"})
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
		rep.Config = true
		r.add(Check{Check: "configuration", Result: Fail, Detail: cfgErr.Error(),
			Fix: r.n.Environments + " can name other environments only with an Account API key; remove it, or use an Account API key"})
		rep.Checks = r.checks
		return rep
	}

	var snaps []updater.Snapshot
	for _, e := range envs {
		if e.ok {
			snaps = append(snaps, updater.Snapshot{Env: e.target.ID, Registries: e.regs, Credentials: e.creds, Services: e.services})
		}
	}
	tokens := r.tokens(ctx, updater.Regions(r.rules, snaps), len(envs) > 0)
	r.registries(ctx, envs, tokens)
	for _, e := range envs {
		r.images(e)
	}
	for _, e := range envs {
		r.checks = append(r.checks, e.checks...)
	}
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		r.add(Check{Check: "doctor: time", Result: Fail, Detail: fmt.Sprintf("the checks did not finish within %s", cfg.Budget),
			Fix: "the checks above that failed for lack of time did not get an answer in time: check the network path and " + r.n.RancherTimeout + "/" + r.n.ECRTimeout})
	case err != nil:
		r.add(Check{Check: "doctor: time", Result: Fail, Detail: "stopped before the checks finished: " + err.Error(), Fix: "run it again"})
	}
	rep.Checks = r.checks
	return rep
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// identity checks the AWS credentials: who they belong to, and where the SDK found them.
func (r *run) identity(ctx context.Context) (out []Check) {
	id, err := r.ecr.CallerIdentity(ctx)
	source := r.ecr.CredentialSource()
	if err != nil {
		if source == "" {
			out = append(out, Check{Check: "aws: credentials", Result: Fail, Detail: "no credentials resolved: " + err.Error(),
				Fix: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or " + r.n.RoleARN + " with a web identity, or give the host an instance or task role"})
			return out
		}
		out = append(out, Check{Check: "aws: credentials", Result: OK, Detail: "from " + source})
		out = append(out, Check{Check: "aws: caller identity", Result: Fail, Detail: err.Error(),
			Fix: "the credentials were found but AWS refuses them: fix the key pair, session token or role the message names"})
		return out
	}
	out = append(out, Check{Check: "aws: credentials", Result: OK, Detail: "from " + source})
	out = append(out, Check{Check: "aws: caller identity", Result: OK, Detail: fmt.Sprintf("%s (account %s)", id.ARN, id.Account)})
	return out
}

// rancher connects, resolves the environments as a pass does, and reads each (concurrently). The error is a
// configuration error (exit 2); every other problem is a check.
func (r *run) rancher(ctx context.Context) ([]*env, error) {
	u := r.cfg.Updater
	opts := u.Rancher
	if u.Concurrency > 0 {
		opts.Concurrency = u.Concurrency
	}
	start := time.Now()
	srv, err := rancher.Dial(ctx, opts)
	if err != nil {
		r.add(Check{Check: "rancher: reachable", Result: Fail, Detail: err.Error(), Fix: r.rancherFix(err)})
		return nil, nil
	}
	defer srv.Close()
	r.add(Check{Check: "rancher: reachable", Result: OK,
		Detail: fmt.Sprintf("%s answered in %s", srv.Endpoint(), time.Since(start).Round(time.Millisecond))})
	r.kind, r.answered = srv.KeyKind(), true

	targets, err := updater.ResolveEnvironments(ctx, srv, u.Environments)
	var cfgErr *updater.ConfigError
	switch {
	case errors.As(err, &cfgErr):
		r.add(Check{Check: "rancher: API key", Result: Fail, Detail: keyKind(srv) + ", " + r.scope(srv, u.Environments)})
		return nil, cfgErr
	case err != nil:
		r.add(Check{Check: "rancher: API key", Result: OK, Detail: keyKind(srv) + ", " + r.scope(srv, u.Environments)})
		r.add(Check{Check: "rancher: environments", Result: Fail, Detail: err.Error(), Fix: r.rancherFix(err)})
		return nil, nil
	}
	detail := keyKind(srv) + ", " + r.scope(srv, u.Environments)
	if len(u.Environments) > 0 {
		detail += fmt.Sprintf(": %d environment(s)", len(targets))
	}
	r.add(Check{Check: "rancher: API key", Result: OK, Detail: detail})

	envs := make([]*env, len(targets))
	parallel.ForEach(len(targets), max(opts.Concurrency, 1), func(i int) {
		envs[i] = r.readEnv(ctx, srv, targets[i])
	})
	return envs, nil
}

func keyKind(srv *rancher.Server) string {
	switch k := srv.KeyKind(); k {
	case rancher.KindProject:
		return "Environment API key"
	case rancher.KindUser:
		return "Account API key"
	case rancher.KindAdmin:
		return "Account API key of an administrator"
	case rancher.KindEnvironment, rancher.KindProjectAdmin:
		return "the key Rancher gave this container (agent labels)"
	case "":
		return "key of an unreported kind"
	default:
		return "key of kind " + k
	}
}

func (r *run) scope(srv *rancher.Server, sel []string) string {
	switch {
	case srv.Endpoint().Project != "":
		return r.n.URL + " names environment " + srv.Endpoint().Project
	case len(sel) > 0:
		return r.n.Environments + "=" + strings.Join(sel, ",")
	case srv.IsAccountKey():
		return "no environment named (" + r.n.URL + " without /projects/<id>, no " + r.n.Environments + ")"
	}
	return "the key's own environment"
}

// rancherFix says what to check for a Rancher error.
func (r *run) rancherFix(err error) string {
	n := r.n
	switch rancher.StatusOf(err) {
	case 0:
		return "check " + n.URL + " (scheme, host, port), the network path and HTTP_PROXY/NO_PROXY, " + n.CACert + " for a private CA"
	case 401:
		return "check " + n.AccessKey + " and " + n.SecretKey + " (a key stops working when its environment or user is removed)"
	case 403, 404:
		return "check the environment id in " + n.URL + " or " + n.Environments + ", and that the key may use it"
	}
	return "check the Rancher server (its log) and " + n.URL
}

// readEnv connects to one environment, checks what the key may do there, and reads its registries, credentials
// and services.
func (r *run) readEnv(ctx context.Context, srv *rancher.Server, t *updater.EnvResult) *env {
	e := &env{target: t, label: t.Label()}
	name := "env " + e.label
	add := func(c Check) {
		c.Env = t.ID
		e.checks = append(e.checks, c)
	}
	switch {
	case t.Err != nil:
		add(Check{Check: name, Result: Fail, Detail: t.Err.Error(), Fix: "check " + r.n.Environments + ": give ids (1a5) or unique names of environments the key can see"})
		return e
	case t.SkipReason != "":
		add(Check{Check: name, Result: Warn, Detail: "skipped: " + t.SkipReason, Fix: "activate the environment, or leave it out of " + r.n.Environments})
		return e
	}
	r.log.WithField("env", e.label).Debug("doctor: reading environment")
	re, access, err := srv.Inspect(ctx, t.Key())
	if err != nil {
		add(Check{Check: name, Result: Fail, Detail: err.Error(), Fix: r.rancherFix(err)})
		return e
	}
	if t.ID == "" && re.ID() != "" {
		t.ID = re.ID()
		e.label = t.Label()
		name = "env " + e.label
	}
	if err := access.Err(); err != nil {
		add(Check{Check: name + ": write access", Result: Fail, Detail: err.Error() + " (" + access.String() + ")", Fix: srv.WriteFix()})
	} else {
		add(Check{Check: name + ": write access", Result: OK, Detail: "the key may create registries and create and update their credentials"})
	}
	// Services apart: without them the registries can still be checked.
	if e.services, err = re.Services(ctx); err != nil {
		add(Check{Check: name + ": read services", Result: Fail, Detail: err.Error() + "; the images in use are not checked", Fix: r.rancherFix(err)})
	} else {
		e.servicesOK = true
	}
	var errs []error
	if e.regs, err = re.Registries(ctx); err != nil {
		errs = append(errs, err)
	}
	if e.creds, err = re.Credentials(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		add(Check{Check: name + ": read", Result: Fail, Detail: err.Error(), Fix: r.rancherFix(err)})
		return e
	}
	e.ok = true
	return e
}

// tokens fetches one token per region in use, as a pass does, and checks each.
func (r *run) tokens(ctx context.Context, regions []string, rancherRead bool) map[string]updater.TokenResult {
	out := make(map[string]updater.TokenResult, len(regions))
	if len(regions) == 0 {
		if rancherRead {
			r.add(Check{Check: "aws: tokens", Result: Warn, Detail: "no region in use: no in-scope ECR registry in the environments served",
				Fix: "add the ECR registries under Infrastructure -> Registries with the bare host, or set " + r.n.AutoCreate + "=true with " + r.n.Region})
		}
		return out
	}
	var mu sync.Mutex
	parallel.ForEach(len(regions), updater.MaxTokenFetches, func(i int) {
		tok, err := r.ecr.Token(ctx, regions[i])
		if err == nil {
			r.cfg.Updater.Scrubber.AddTransient(tok.Password, tok.Raw)
		}
		r.log.WithFields(logrus.Fields{"region": regions[i], "expires": tok.ExpiresAt, "error": err}).Debug("doctor: token fetched")
		mu.Lock()
		out[regions[i]] = updater.TokenResult{Token: tok, Err: err}
		mu.Unlock()
	})
	for _, region := range regions {
		t := out[region]
		c := Check{Check: "aws: token " + region, Region: region}
		if t.Err != nil {
			c.Result, c.Detail, c.Fix = Fail, t.Err.Error(), tokenFix(t.Err, region)
		} else {
			c.Result, c.Detail = OK, fmt.Sprintf("valid until %s (%s)", t.Token.ExpiresAt.UTC().Format(time.RFC3339), t.Token.Lifetime().Round(time.Second))
		}
		r.add(c)
	}
	return out
}

func tokenFix(err error, region string) string {
	var e *ecr.Error
	if errors.As(err, &e) {
		switch e.Code {
		case "AccessDeniedException":
			return "allow ecr:GetAuthorizationToken on resource * in " + region + " for the caller identity (check SCPs and region conditions too)"
		case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
			return "fix the AWS credentials: " + e.Hint
		}
		if e.Hint != "" {
			return e.Hint
		}
	}
	return "check the network path to ECR in " + region + " (proxy, NO_PROXY, AWS_ENDPOINT_URL_ECR)"
}

type probe struct {
	host string
	tok  ecr.Token
	err  error
}

// registries checks every registry of every environment read: the rules' verdict, an address Rancher can match,
// an active credential, and that its region's token opens it (one GET /v2/ per host for all environments).
func (r *run) registries(ctx context.Context, envs []*env, tokens map[string]updater.TokenResult) {
	probes := map[string]*probe{}
	var order []string
	for _, e := range envs {
		if !e.ok {
			continue
		}
		for _, reg := range e.regs {
			host, v, _ := updater.Classify(r.rules, reg)
			if v != updater.VerdictInScope {
				continue
			}
			if t, ok := tokens[host.Region]; ok && t.Err == nil && probes[host.Host] == nil {
				probes[host.Host] = &probe{host: host.Host, tok: t.Token}
				order = append(order, host.Host)
			}
		}
	}
	parallel.ForEach(len(order), registryChecks, func(i int) {
		p := probes[order[i]]
		p.err = r.ecr.CheckRegistry(ctx, p.host, p.tok)
		r.log.WithFields(logrus.Fields{"host": p.host, "region": p.tok.Region, "error": p.err}).Debug("doctor: GET /v2/")
	})

	for _, e := range envs {
		if !e.ok {
			continue
		}
		plan := updater.Plan(r.rules, updater.Snapshot{Env: e.target.ID, Registries: e.regs, Credentials: e.creds, Services: e.services}, tokens)
		creating := map[string]bool{}
		for _, a := range plan.Actions {
			switch a.Op {
			case updater.OpCreateCredential:
				creating[a.RegistryID] = true
			case updater.OpCreateRegistry:
				if e.autoCreate == nil {
					e.autoCreate = map[string]bool{}
				}
				e.autoCreate[a.ServerAddress] = true
				what, detail := r.n.AutoCreate, "the next pass creates the registry "+a.ServerAddress+" and its credential"
				if a.Service != "" {
					what, detail = r.n.Discover, detail+", for the image of service "+a.Service
				}
				e.checks = append(e.checks, Check{Check: fmt.Sprintf("env %s: %s", e.label, what), Env: e.target.ID, Result: OK,
					Host: a.ServerAddress, Region: a.Token.Region, Detail: detail})
			}
		}
		regs := append([]rancher.Registry(nil), e.regs...)
		sort.SliceStable(regs, func(i, j int) bool { return idLess(regs[i].ID, regs[j].ID) })
		ecrCount := 0
		for _, reg := range regs {
			host, v, reason := updater.Classify(r.rules, reg)
			c := Check{Check: fmt.Sprintf("env %s: registry %s", e.label, reg.ID), Env: e.target.ID,
				Registry: reg.ID, Host: host.Host, Region: host.Region,
				group: "ECR registries", item: reg.ID, foldAs: fmt.Sprintf("env %s: registries", e.label)}
			switch v {
			case updater.VerdictNotECR:
				continue
			case updater.VerdictOutOfScope:
				ecrCount++
				c.Result, c.Detail = OK, reg.ServerAddress+": left alone: "+reason
			case updater.VerdictUnparsable:
				c.Result, c.Detail, c.Fix = Warn, reg.ServerAddress+": "+reason, "set the address to the bare ECR host <12-digit account>.dkr.ecr.<region>.amazonaws.com, or remove the registry"
			case updater.VerdictNotActive:
				ecrCount++
				c.Result, c.Detail, c.Fix = Warn, reg.ServerAddress+": skipped: "+reason+"; Rancher uses only active registries", "activate the registry, or remove it"
			case updater.VerdictInScope:
				ecrCount++
				probeErr := errors.New("not checked")
				if p := probes[host.Host]; p != nil {
					probeErr = p.err
				}
				c = r.inScope(c, reg, host, tokens, probeErr, creating[reg.ID])
			}
			e.checks = append(e.checks, c)
		}
		if ecrCount == 0 && !r.rules.AutoCreate {
			e.checks = append(e.checks, Check{Check: fmt.Sprintf("env %s: registries", e.label), Env: e.target.ID, Result: Warn,
				Detail: fmt.Sprintf("no ECR registry among its %d registries", len(e.regs)),
				Fix:    "add the ECR registries the services pull from under Infrastructure -> Registries (bare host), or set " + r.n.AutoCreate + "=true"})
		}
	}
}

// inScope judges one in-scope registry: probeErr is what GET /v2/ with its region's token gave.
func (r *run) inScope(c Check, reg rancher.Registry, host ecr.Registry, tokens map[string]updater.TokenResult,
	probeErr error, creating bool) Check {
	var found, fixes []string
	result := OK
	if !host.Exact {
		result = Fail
		found = append(found, fmt.Sprintf("Rancher never matches an image to the address %q (scheme, path, trailing slash or port)", reg.ServerAddress))
		fixes = append(fixes, "recreate the registry with the bare host "+host.Host+" (Rancher cannot change a serverAddress)")
	}
	if t := tokens[host.Region]; t.Err != nil || t.Token.Password.Empty() {
		result = Fail
		found = append(found, "no token for "+host.Region)
		fixes = append(fixes, "see the line aws: token "+host.Region)
	} else if probeErr != nil {
		result = Fail
		var re *ecr.RegistryError
		if errors.As(probeErr, &re) && re.Status != 0 {
			found = append(found, fmt.Sprintf("the %s token does not open it: GET /v2/ answered %d %s", host.Region, re.Status, http.StatusText(re.Status)))
		} else {
			found = append(found, "the "+host.Region+" token does not open it: "+probeErr.Error())
		}
		fixes = append(fixes, r.registryFix(probeErr, host))
	} else {
		found = append(found, "the "+host.Region+" token opens it (GET /v2/ 200)")
	}
	if creating {
		found = append(found, "no active credential yet")
		if result == OK {
			result = Warn
			fixes = append(fixes, "none needed: the daemon creates the credential on its next pass")
		}
	}
	c.Result, c.Detail = result, reg.ServerAddress+": "+strings.Join(found, "; ")
	if result != OK {
		c.Fix = strings.Join(fixes, "; ")
	}
	return c
}

func (r *run) registryFix(err error, host ecr.Registry) string {
	var re *ecr.RegistryError
	if errors.As(err, &re) && re.Status == 401 {
		return "the caller identity may not use this registry: let it pull from account " + host.Account + " in " + host.Region +
			" (a registry or repository policy there, or " + r.n.RoleARN + " of a role in that account)"
	}
	if errors.As(err, &re) && re.Status == 403 {
		return "grant ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repositories of " + host.Host
	}
	return "check the network path from here to " + host.Host + " (DNS, proxy, NO_PROXY, VPC endpoint)"
}

// images checks that every ECR image the environment's services use has a registry Rancher uses for it: an active
// registry whose serverAddress is the image's host (Rancher compares them exactly, case aside).
func (r *run) images(e *env) {
	if !e.ok || !e.servicesOK {
		return
	}
	type use struct {
		host     string
		img      ecr.Image
		services []string
	}
	uses := map[string]*use{}
	var hosts []string
	images := 0
	for _, s := range e.services {
		for _, si := range s.Images {
			img, err := ecr.ParseImage(si.ImageUUID)
			who := serviceName(s, si)
			if err != nil {
				e.checks = append(e.checks, Check{Check: fmt.Sprintf("env %s: service %s", e.label, who), Env: e.target.ID, Result: Warn,
					Detail: err.Error(), Fix: "fix the image of the service", Services: []string{who}})
				continue
			}
			if img.NotECR != nil {
				e.checks = append(e.checks, Check{Check: fmt.Sprintf("env %s: service %s", e.label, who), Env: e.target.ID, Result: Warn,
					Detail: "its image host " + img.Host + " looks like ECR but is not one: " + img.NotECR.Error(),
					Fix:    "fix the image name: <12-digit account>.dkr.ecr.<region>.amazonaws.com/<repository>", Services: []string{who}})
				continue
			}
			if img.ECR == nil {
				continue
			}
			images++
			u := uses[img.Host]
			if u == nil {
				u = &use{host: img.Host, img: img}
				uses[img.Host] = u
				hosts = append(hosts, img.Host)
			}
			if len(u.services) == 0 || u.services[len(u.services)-1] != who {
				u.services = append(u.services, who)
			}
		}
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		u := uses[h]
		c := Check{Check: fmt.Sprintf("env %s: ECR images", e.label), Env: e.target.ID, Host: h, Region: u.img.ECR.Region,
			Services: u.services, group: "ECR image hosts, each with its registry", item: h, foldAs: fmt.Sprintf("env %s: ECR images", e.label)}
		used := "used by " + names(u.services)
		var exact, near *rancher.Registry
		for i := range e.regs {
			reg := &e.regs[i]
			if strings.EqualFold(reg.ServerAddress, h) && (exact == nil || reg.State == rancher.StateActive) {
				exact = reg
			} else if n, err := ecr.NormaliseHost(reg.ServerAddress); err == nil && n == u.img.ECR.Host && near == nil {
				near = reg
			}
		}
		switch {
		case exact != nil && exact.State == rancher.StateActive:
			_, v, reason := updater.Classify(r.rules, *exact)
			if v == updater.VerdictOutOfScope {
				c.Result, c.Detail = Warn, fmt.Sprintf("registry %s serves it, but this updater leaves it alone (%s); %s", exact.ID, reason, used)
				c.Fix = "add its account to " + r.n.RegistryIDs + " and its region to " + r.n.Regions + ", or let another updater refresh it"
			} else {
				c.Result, c.Detail = OK, fmt.Sprintf("registry %s serves it; %s", exact.ID, used)
			}
			c.Registry = exact.ID
		case exact != nil:
			c.Result, c.Detail = Fail, fmt.Sprintf("registry %s is %s, and Rancher uses only active registries: pulls go without credentials; %s", exact.ID, exact.State, used)
			c.Fix, c.Registry = "activate registry "+exact.ID, exact.ID
		case near != nil:
			c.Result, c.Detail = Fail, fmt.Sprintf("no registry Rancher matches: registry %s has the address %q, which Rancher never matches to %s; %s", near.ID, near.ServerAddress, h, used)
			c.Fix, c.Registry = "recreate registry "+near.ID+" with the bare host "+h, near.ID
		case e.autoCreate[h]:
			c.Result, c.Detail = Warn, "no registry for this host yet, but the next pass creates it ("+r.n.AutoCreate+" or "+r.n.Discover+"); "+used
			c.Fix = "none needed, or run a pass now (ecr-updater once) so that pulls do not fail until then"
		default:
			c.Result, c.Detail = Fail, "no registry for this host in the environment: pulls go without credentials and fail; "+used
			for _, reg := range e.regs {
				if other, err := ecr.ParseServerAddress(reg.ServerAddress); err == nil && other.Exact && other.Account == u.img.ECR.Account &&
					other.Region != u.img.ECR.Region {
					c.Detail += fmt.Sprintf(" (registry %s is of the same account in %s: a registry, and its token, serve one region only)", reg.ID, other.Region)
					break
				}
			}
			c.Fix = "add the registry " + h + " under Infrastructure -> Registries (user AWS; the updater sets the password)"
			if !r.rules.AccountInScope(u.img.ECR.Account) || !r.rules.RegionInScope(u.img.ECR.Region) {
				c.Fix += ", and put its account and region in " + r.n.RegistryIDs + " / " + r.n.Regions
			}
		}
		c.Detail = h + ": " + c.Detail
		e.checks = append(e.checks, c)
	}
	if len(e.services) > 0 && len(hosts) == 0 {
		e.checks = append(e.checks, Check{Check: fmt.Sprintf("env %s: services", e.label), Env: e.target.ID, Result: OK,
			Detail: fmt.Sprintf("%d services, none uses an ECR image", len(e.services))})
	}
}

func serviceName(s rancher.Service, si rancher.ServiceImage) string {
	name := s.Name + " (" + s.ID + ")"
	if si.Container != "" {
		name += " sidekick " + si.Container
	}
	return name
}

// names lists the first few services, and how many more.
func names(list []string) string {
	const show = 3
	if len(list) <= show {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:show], ", ") + fmt.Sprintf(" and %d more", len(list)-show)
}

// idLess orders Cattle ids ("1sp9" < "1sp10").
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
