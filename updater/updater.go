// Package updater knows the rules and the schedule: it reads the world (registries and credentials of every
// environment, one ECR token per region in use), computes a plan as a pure function (Plan), applies it with
// bounded concurrency, and reports (one log line per write, one summary per pass, metrics, health). Run only
// schedules passes: at start, then at the earlier of UPDATE_INTERVAL and half the shortest token lifetime, with
// jittered backoff after failures that never waits past the expiry of the credentials in place.
package updater

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// Config configures an Updater.
type Config struct {
	Rules  Rules
	DryRun bool
	// Environments are RANCHER_ENVIRONMENTS: environment ids or names, or "all". Empty: the environment of
	// CATTLE_URL or of the key.
	Environments []string
	// Concurrency bounds the Rancher requests in flight (RANCHER_CONCURRENCY); 0 means 8.
	Concurrency int
	// Interval is UPDATE_INTERVAL; 0 means 6 h.
	Interval time.Duration
	// Rancher says how to reach Rancher; its Observe is set by New.
	Rancher rancher.Options
	// ECR says how to reach ECR; its Observe is set by New.
	ECR ecr.Config
	Log logrus.FieldLogger
	// Metrics, when set, records passes, writes and requests.
	Metrics *Metrics
	// Scrubber, when set, learns every password and token as soon as it arrives.
	Scrubber *redact.Scrubber
	// Clock is the schedule's clock; nil means real time.
	Clock Clock
	// Grace is how long in-flight writes may finish once Run's context is done; 0 means 8 s.
	Grace time.Duration
	// Jitter returns a number in [0, 1) for backoff jitter; nil means math/rand.
	Jitter func() float64
	// OnPass, when set, is called with the result of every pass.
	OnPass func(*Result)
	// Events follows each environment's event stream (EVENTS) and runs a small pass for the registries that change.
	Events bool
	// Watch tunes the event streams; the zero value is right for Rancher.
	Watch rancher.WatchOptions
	// Names name the settings in errors, hints, log lines and reasons. main.go fills them; the ones left empty
	// read as neutral words. WithNames hands them to Rules, Rancher and ECR (New and doctor call it).
	Names setting.Names
}

// WithNames returns c with its Names filled (setting.Names.Filled) and handed to Rules, Rancher and ECR, so that
// every package speaks of the settings by the same names.
func (c Config) WithNames() Config {
	c.Names = c.Names.Filled()
	c.Rules.Names, c.Rancher.Names, c.ECR.Names = c.Names, c.Names, c.Names
	return c
}

// ConfigError is a configuration problem found only once Rancher answered (an Environment API key asked for
// other environments); no retry can fix it.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Updater runs passes. Passes never overlap; Pass and Run must not be called concurrently.
type Updater struct {
	cfg    Config
	log    logrus.FieldLogger
	ecr    *ecr.Client
	clock  Clock
	sem    chan struct{}
	health *Health

	server *rancher.Server
	envsMu sync.Mutex // guards envs across the goroutines of a pass
	envs   map[string]*rancher.Env

	// What the updater remembers between passes (only the pass in flight touches it).
	tokensMu     sync.Mutex
	tokenCache   map[string]ecr.Token       // the last valid token of each region
	fresh        map[string]map[string]bool // by environment key: credentials written since the last scheduled pass
	state        map[string]*envState       // by environment key: what the last read of it found
	lastTargets  []*EnvResult               // the environments of the last scheduled pass that got that far
	sourceLogged bool                       // the AWS credential source has been logged
	warnedShort  map[string]bool            // regions whose short token lifetime has been warned about

	changes *changes // reported by Rancher's event streams, for small passes
	streams streams  // the event streams
}

// New checks the configuration and prepares the clients; it makes no network call.
func New(ctx context.Context, cfg Config) (*Updater, error) {
	cfg = cfg.WithNames()
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 6 * time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 8 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.Out = nopWriter{}
		cfg.Log = l
	}
	if cfg.Rancher.Endpoint.Origin == "" {
		return nil, errors.New(cfg.Names.URL + ": not set")
	}
	cfg.Rancher.Concurrency = cfg.Concurrency
	cfg.Rancher.Observe = cfg.Metrics.observer("rancher")
	cfg.ECR.Observe = ecr.Observer(cfg.Metrics.observer("ecr"))
	if cfg.ECR.Now == nil {
		cfg.ECR.Now = cfg.Clock.Now
	}
	cfg.ECR.Scrubber = cfg.Scrubber
	if cfg.ECR.Log == nil {
		cfg.ECR.Log = cfg.Log // the AWS SDK's own lines, in the daemon's level and format
	}
	client, err := ecr.New(ctx, cfg.ECR)
	if err != nil {
		return nil, err
	}
	u := &Updater{
		cfg:         cfg,
		log:         cfg.Log,
		ecr:         client,
		clock:       cfg.Clock,
		sem:         make(chan struct{}, cfg.Concurrency),
		health:      NewHealth(cfg.Clock),
		envs:        map[string]*rancher.Env{},
		tokenCache:  map[string]ecr.Token{},
		fresh:       map[string]map[string]bool{},
		state:       map[string]*envState{},
		changes:     newChanges(),
		warnedShort: map[string]bool{},
	}
	cfg.Metrics.watch(u.health)
	return u, nil
}

// Close releases the Rancher connections.
func (u *Updater) Close() {
	if u.server != nil {
		u.server.Close()
		u.server = nil
	}
}

// idle drops what only a pass needs: the connections to Rancher.
func (u *Updater) idle() {
	if u.server != nil {
		u.server.CloseIdleConnections()
	}
}

// Health is the updater's health state, for the HTTP endpoints.
func (u *Updater) Health() *Health { return u.health }

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Outcome is what became of one planned write.
type Outcome string

const (
	OutcomeUpdated     Outcome = "updated"
	OutcomeCreated     Outcome = "created"
	OutcomeWouldUpdate Outcome = "would update"
	OutcomeWouldCreate Outcome = "would create"
	OutcomeGone        Outcome = "gone"   // removed between list and write
	OutcomeExists      Outcome = "exists" // AUTO_CREATE found the registry there already
	OutcomeFailed      Outcome = "failed"
)

// Write is one applied action.
type Write struct {
	Env, RegistryID, ServerAddress, CredentialID, Region string
	Op                                                   Op
	Outcome                                              Outcome
	// RegistryCreated is true when AUTO_CREATE or discovery made the registry; Service names the service whose
	// image a discovered registry serves.
	RegistryCreated bool
	Service         string
	ExpiresAt       time.Time
	Err             error
}

// EnvResult is what a pass did in one environment.
type EnvResult struct {
	ID, Name string
	// key is the environment as asked for (an id, or "" for the key's own environment): the key of its client
	// and of what the updater remembers of it.
	key string
	// Err is a failure to connect or read; nothing was written.
	Err error
	// SkipReason says why the environment was skipped (it is not active); "" when it was not.
	SkipReason string
	// DiscoverErr is a failure to list the services (DISCOVER_REGISTRIES); the registries were refreshed anyway.
	DiscoverErr error
	Plan        EnvPlan
	Writes      []Write
	Requests    int64
}

func (e *EnvResult) label() string {
	if e.Name != "" && e.Name != e.ID {
		return e.ID + " (" + e.Name + ")"
	}
	if e.ID == "" {
		return "(the key's environment)"
	}
	return e.ID
}

// Result is the outcome of a pass.
type Result struct {
	Start    time.Time
	Duration time.Duration
	DryRun   bool
	Envs     []*EnvResult
	// Tokens are the valid tokens of the pass by region; TokenErrors the failures.
	Tokens      map[string]ecr.Token
	TokenErrors map[string]error
	// Counts over all environments.
	Seen, InScope, Updated, Created, RegistriesCreated, Skipped int
	// FailedEnvs counts the environments that could not be read; FailedRegistries the in-scope registries not
	// written (failed writes, and registries whose region had no valid token); EnvsSkipped the inactive ones.
	FailedEnvs, FailedRegistries, EnvsSkipped int
	RancherRequests                           int64
	ECRCalls                                  int
	// Err is a failure that stopped the whole pass (Rancher unreachable, no environment list).
	Err error
	// Kind is PassScheduled, PassRetry or the kind of a small pass; Full is true for a scheduled pass.
	Kind string
	Full bool
	// Status is what the pass leaves the updater in: StatusOK, StatusDegraded or StatusFailing.
	Status string
	// Problems are every registry (or environment, or region) that cannot be refreshed, as of the end of the pass:
	// found by this pass, or by an earlier one in an environment this pass did not read.
	Problems []Problem
}

// OK reports whether every in-scope registry was written.
func (r *Result) OK() bool { return r.Err == nil && r.Failures() == 0 }

// Failures counts what failed: environments not read and in-scope registries not written.
func (r *Result) Failures() int { return r.FailedEnvs + r.FailedRegistries }

// ShortestLifetime is the shortest lifetime among the tokens of the pass, 0 without tokens.
func (r *Result) ShortestLifetime() time.Duration {
	var d time.Duration
	for _, t := range r.Tokens {
		if l := t.Lifetime(); d == 0 || l < d {
			d = l
		}
	}
	return d
}

// EarliestExpiry is the earliest expiry among the tokens of the pass, zero without tokens.
func (r *Result) EarliestExpiry() time.Time {
	var e time.Time
	for _, t := range r.Tokens {
		if e.IsZero() || t.ExpiresAt.Before(e) {
			e = t.ExpiresAt
		}
	}
	return e
}

// Pass runs one scheduled pass (every environment, fresh tokens, every credential) and reports it.
func (u *Updater) Pass(ctx context.Context) *Result { return u.pass(ctx, ctx, scope{full: true}) }

// scope is what a pass covers. A scheduled pass covers everything; a retry re-reads only the environments that
// had a problem, fetches only the tokens it has no fresh copy of, and writes only what is not fresh yet; a small
// pass (a change Rancher reported) does the same for one environment and the registries named.
type scope struct {
	full bool
	// envs are the keys of the environments to read when not full.
	envs map[string]bool
	// only narrows the writes of an environment (by key) to these registries; nil: every registry not fresh.
	only map[string]map[string]bool
	kind string
}

func (sc scope) name() string {
	switch {
	case sc.kind != "":
		return sc.kind
	case sc.full:
		return PassScheduled
	}
	return PassRetry
}

// Kinds of pass, as Result.Kind says.
const (
	PassScheduled = "scheduled"
	PassRetry     = "retry"
)

// envPass is one environment in one pass: what was asked for, the client, what was read.
type envPass struct {
	res   *EnvResult
	key   string // the cache key of the environment client: its id as asked for
	env   *rancher.Env
	snap  Snapshot
	start int64 // the environment's request count before the pass
}

// readStageTimeouts bounds the stages that read from Rancher, in RANCHER_TIMEOUTs: connecting and listing the
// environments, and reading one environment. A list that pages slowly cannot hold a pass longer than that.
const readStageTimeouts = 10

// passBudget is the deadline of a whole pass over n environments, derived from the settings: the read stages,
// the token fetches, and the writes of ceil(n/concurrency) rounds of environments.
func (u *Updater) passBudget(n int) time.Duration {
	rounds := (max(n, 1) + u.cfg.Concurrency - 1) / u.cfg.Concurrency
	return 2*u.ecrTimeout() + u.rancherTimeout()*time.Duration(readStageTimeouts+30*rounds)
}

func (u *Updater) rancherTimeout() time.Duration {
	if u.cfg.Rancher.Timeout > 0 {
		return u.cfg.Rancher.Timeout
	}
	return rancher.DefaultTimeout
}

func (u *Updater) ecrTimeout() time.Duration {
	if u.cfg.ECR.Timeout > 0 {
		return u.cfg.ECR.Timeout
	}
	return ecr.DefaultTimeout
}

// pass runs one pass: once stop is done it starts no new work; requests in flight are cancelled only by inflight (or by the pass's
// own deadline).
func (u *Updater) pass(stop, inflight context.Context, sc scope) *Result {
	res := &Result{Start: u.clock.Now(), DryRun: u.cfg.DryRun, Kind: sc.name(), Full: sc.full,
		Tokens: map[string]ecr.Token{}, TokenErrors: map[string]error{}}
	var before int64
	defer func() {
		if u.server != nil {
			res.RancherRequests = u.server.Requests() - before
		}
		res.Duration = u.clock.Now().Sub(res.Start)
		u.remember(res, sc)
		u.report(res)
	}()

	// For /livez: the pass is bounded by connect's deadline, then by its budget.
	u.health.passStarted(res.Start.Add(readStageTimeouts * u.rancherTimeout()))
	targets, err := u.connect(inflight, sc, &before)
	if err != nil {
		res.Err = err
		return res
	}
	res.Envs = targets
	budget := u.passBudget(len(targets))
	inflight, cancel := context.WithTimeout(inflight, budget)
	defer cancel()
	u.health.passStarted(u.clock.Now().Add(budget))

	// Read every environment.
	envs := make([]*envPass, len(targets))
	parallel.ForEach(len(targets), u.cfg.Concurrency, func(i int) {
		t := targets[i]
		ep := &envPass{res: t, key: t.key}
		if t.Err != nil || t.SkipReason != "" {
			return
		}
		if err := stop.Err(); err != nil {
			t.Err = fmt.Errorf("read environment %s: stopped: %w", t.label(), err)
			return
		}
		limit := readStageTimeouts * u.rancherTimeout()
		ctx, cancel := context.WithTimeout(inflight, limit)
		defer cancel()
		if err := u.read(ctx, ep); err != nil {
			if ctx.Err() != nil && inflight.Err() == nil {
				err = fmt.Errorf("reading the environment took longer than %s (%d Rancher request timeouts), given up: %w", limit, readStageTimeouts, err)
			}
			t.Err = err
			return
		}
		if t.ID == "" {
			t.ID = ep.env.ID()
		}
		ep.snap.Classify(u.cfg.Rules)
		if !sc.full {
			ep.snap.Fresh = u.fresh[ep.key]
			ep.snap.Only = sc.only[ep.key]
		}
		envs[i] = ep
	})

	// One token per region in use; a retry or small pass reuses the tokens that are still fresh.
	var read []Snapshot
	for _, ep := range envs {
		if ep != nil {
			read = append(read, ep.snap)
		}
	}
	tokens := u.tokens(inflight, Regions(u.cfg.Rules, read), sc.full, res)

	// Plan and apply, environment by environment.
	parallel.ForEach(len(envs), u.cfg.Concurrency, func(i int) {
		ep := envs[i]
		if ep == nil {
			return
		}
		t := ep.res
		t.Plan = Plan(u.cfg.Rules, ep.snap, tokens)
		t.Writes = u.apply(stop, inflight, ep.env, t.Plan.Actions)
		u.noteEchoes(ep.key, t.Writes)
		for _, w := range t.Writes {
			if w.Err != nil && !rancher.IsNotFound(w.Err) {
				u.forget(ep.key, ep.env)
				break
			}
		}
		t.Requests = ep.env.Requests() - ep.start
	})
	return res
}

// connect dials Rancher once (again after a failure) and resolves the environments of the pass. It is bounded
// by the read stage's deadline.
func (u *Updater) connect(inflight context.Context, sc scope, before *int64) ([]*EnvResult, error) {
	ctx, cancel := context.WithTimeout(inflight, readStageTimeouts*u.rancherTimeout())
	defer cancel()
	if u.server == nil {
		srv, err := rancher.Dial(ctx, u.cfg.Rancher)
		if err != nil {
			return nil, err
		}
		u.server = srv
	} else {
		*before = u.server.Requests()
	}
	if sc.full || u.lastTargets == nil {
		return u.targets(ctx)
	}
	var out []*EnvResult
	for _, t := range u.lastTargets {
		if sc.envs[t.key] {
			out = append(out, &EnvResult{ID: t.ID, Name: t.Name, key: t.key})
		}
	}
	return out, nil
}

// targets resolves RANCHER_ENVIRONMENTS into the environments of this pass.
func (u *Updater) targets(ctx context.Context) ([]*EnvResult, error) {
	if len(u.cfg.Environments) == 0 {
		return []*EnvResult{{ID: "", key: ""}}, nil
	}
	all, err := u.server.Environments(ctx)
	if err != nil {
		return nil, err
	}
	var out []*EnvResult
	seen := map[string]bool{}
	add := func(e rancher.Environment, explicit bool) {
		if seen[e.ID] {
			return
		}
		seen[e.ID] = true
		t := &EnvResult{ID: e.ID, Name: e.Name, key: e.ID}
		if e.State != rancher.StateActive {
			t.SkipReason = "environment is " + e.State
		}
		out = append(out, t)
	}
	for _, sel := range u.cfg.Environments {
		if strings.EqualFold(sel, "all") {
			for _, e := range all {
				add(e, false)
			}
			continue
		}
		var match []rancher.Environment
		for _, e := range all {
			if e.ID == sel {
				match = []rancher.Environment{e}
				break
			}
			if strings.EqualFold(e.Name, sel) {
				match = append(match, e)
			}
		}
		switch len(match) {
		case 1:
			add(match[0], true)
		case 0:
			if kind := u.server.KeyKind(); kind != "" && !u.server.IsAccountKey() {
				what := "an Environment API key"
				if u.server.IsAgentKey() {
					what = "the key Rancher gave this container (agent labels)"
				}
				return nil, &ConfigError{Msg: fmt.Sprintf("%s names %q, but %s is %s (kind %q), which sees only its own environment; use an Account API key to reach other environments",
					u.cfg.Names.Environments, sel, u.cfg.Names.AccessKey, what, kind)}
			}
			out = append(out, &EnvResult{ID: sel, key: sel, Err: fmt.Errorf("environment %q: no such environment visible to this API key", sel)})
		default:
			ids := make([]string, len(match))
			for i, e := range match {
				ids[i] = e.ID
			}
			out = append(out, &EnvResult{ID: sel, key: sel, Err: fmt.Errorf("environment %q: the name matches %s; use an id", sel, strings.Join(ids, ", "))})
		}
	}
	return out, nil
}

// read connects to an environment (once, kept until it fails) and lists its registries and credentials into ep.
func (u *Updater) read(ctx context.Context, ep *envPass) error {
	env := u.cached(ep.key)
	if env != nil {
		ep.start = env.Requests()
	} else {
		var err error
		u.sem <- struct{}{}
		env, err = u.server.Open(ctx, ep.key)
		<-u.sem
		if err != nil {
			return err
		}
	}
	var regs []rancher.Registry
	var creds []rancher.Credential
	var services []rancher.Service
	var regErr, credErr, svcErr error
	var wg sync.WaitGroup
	if u.cfg.Rules.Discover {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.sem <- struct{}{}
			defer func() { <-u.sem }()
			services, svcErr = env.Services(ctx)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		u.sem <- struct{}{}
		defer func() { <-u.sem }()
		regs, regErr = env.Registries(ctx)
	}()
	go func() {
		defer wg.Done()
		u.sem <- struct{}{}
		defer func() { <-u.sem }()
		creds, credErr = env.Credentials(ctx)
	}()
	wg.Wait()
	if err := errors.Join(regErr, credErr); err != nil {
		u.forget(ep.key, env)
		return err
	}
	u.keep(ep.key, env)
	ep.env, ep.snap = env, Snapshot{Env: env.ID(), Registries: regs, Credentials: creds, Services: services}
	// Without the services, registries are still refreshed; only discovery waits for the next pass.
	ep.res.DiscoverErr = svcErr
	return nil
}

func (u *Updater) cached(id string) *rancher.Env {
	u.envsMu.Lock()
	defer u.envsMu.Unlock()
	return u.envs[id]
}

func (u *Updater) keep(id string, env *rancher.Env) {
	u.envsMu.Lock()
	defer u.envsMu.Unlock()
	u.envs[id] = env
}

func (u *Updater) forget(id string, env *rancher.Env) {
	u.envsMu.Lock()
	defer u.envsMu.Unlock()
	if u.envs[id] == env {
		delete(u.envs, id)
	}
}

// noteEchoes remembers the resources a pass wrote, so that Rancher's report of those writes is not taken for a
// change.
func (u *Updater) noteEchoes(key string, writes []Write) {
	var ids []string
	for _, w := range writes {
		if w.Outcome == OutcomeWouldUpdate || w.Outcome == OutcomeWouldCreate {
			continue
		}
		ids = append(ids, w.CredentialID)
		if w.RegistryCreated {
			ids = append(ids, w.RegistryID)
		}
	}
	if len(ids) > 0 {
		u.changes.wrote(key, u.clock.Now(), ids...)
	}
}

// MaxTokenFetches bounds the token fetches in flight: ECR throttles per account and region, and a Rancher that
// names many regions must not make the updater open many connections at once.
const MaxTokenFetches = 4

// tokens returns one token per region: fetched anew in a scheduled pass, otherwise the token of an earlier pass
// while it is fresh (more than half its lifetime left) and fetched only when there is none. Fetched tokens and
// failures are recorded in res, and the scrubber learns each password at once.
func (u *Updater) tokens(ctx context.Context, regions []string, refresh bool, res *Result) map[string]TokenResult {
	out := make(map[string]TokenResult, len(regions))
	var fetch []string
	now := u.clock.Now()
	u.tokensMu.Lock()
	for _, region := range regions {
		if t, ok := u.tokenCache[region]; ok && !refresh && t.ExpiresAt.Sub(now) > t.Lifetime()/2 {
			out[region] = TokenResult{Token: t}
		} else {
			fetch = append(fetch, region)
		}
	}
	u.tokensMu.Unlock()
	var mu sync.Mutex
	parallel.ForEach(len(fetch), MaxTokenFetches, func(i int) {
		tok, err := u.ecr.Token(ctx, fetch[i])
		if err == nil {
			u.cfg.Scrubber.AddTransient(tok.Password, tok.Raw)
		}
		mu.Lock()
		out[fetch[i]] = TokenResult{Token: tok, Err: err}
		mu.Unlock()
	})
	res.ECRCalls = len(fetch)
	if len(res.Tokens) == 0 && len(fetch) > 0 && !u.sourceLogged {
		for _, region := range fetch {
			if out[region].Err == nil {
				u.sourceLogged = true
				u.log.WithField("source", u.ecr.CredentialSource()).Info("AWS credentials found")
				break
			}
		}
	}
	u.tokensMu.Lock()
	defer u.tokensMu.Unlock()
	for _, region := range fetch {
		if t := out[region]; t.Err != nil {
			res.TokenErrors[region] = t.Err
		} else {
			res.Tokens[region] = t.Token
			u.tokenCache[region] = t.Token
		}
	}
	return out
}

// apply performs the actions, at most Concurrency requests in flight; one failure never stops the others.
func (u *Updater) apply(stop, inflight context.Context, env *rancher.Env, actions []Action) []Write {
	writes := make([]Write, len(actions))
	parallel.ForEach(len(actions), u.cfg.Concurrency, func(i int) {
		writes[i] = u.write(stop, inflight, env, actions[i])
	})
	return writes
}

func (u *Updater) write(stop, inflight context.Context, env *rancher.Env, a Action) Write {
	w := Write{Env: a.Env, RegistryID: a.RegistryID, ServerAddress: a.ServerAddress, CredentialID: a.Credential.ID,
		Region: a.Token.Region, ExpiresAt: a.Token.ExpiresAt, Op: a.Op, Service: a.Service}
	if u.cfg.DryRun {
		w.Outcome = OutcomeWouldCreate
		if a.Op == OpUpdate {
			w.Outcome = OutcomeWouldUpdate
		}
		return w
	}
	if err := stop.Err(); err != nil {
		w.Outcome, w.Err = OutcomeFailed, fmt.Errorf("%s %s: not started: %w", a.Op, a.ServerAddress, err)
		return w
	}
	u.sem <- struct{}{}
	defer func() { <-u.sem }()
	var err error
	switch a.Op {
	case OpUpdate:
		err = env.UpdateCredential(inflight, a.Credential, ecr.User, a.Token.Password)
		w.Outcome = OutcomeUpdated
	case OpCreateCredential:
		var c rancher.Credential
		c, err = env.CreateCredential(inflight, a.RegistryID, ecr.User, a.Token.Password)
		w.CredentialID, w.Outcome = c.ID, OutcomeCreated
	case OpCreateRegistry:
		var reg rancher.Registry
		reg, err = env.CreateRegistry(inflight, a.ServerAddress)
		if errors.Is(err, rancher.ErrRegistryExists) {
			w.Outcome = OutcomeExists
			return w
		}
		if err == nil {
			w.RegistryID, w.RegistryCreated = reg.ID, true
			var c rancher.Credential
			c, err = env.CreateCredential(inflight, reg.ID, ecr.User, a.Token.Password)
			w.CredentialID, w.Outcome = c.ID, OutcomeCreated
		}
	}
	switch {
	case rancher.IsNotFound(err):
		w.Outcome, w.Err = OutcomeGone, err
	case err != nil:
		w.Outcome, w.Err = OutcomeFailed, err
	}
	return w
}

// sortedRegions returns the keys of a token map, sorted.
func sortedRegions[T any](m map[string]T) []string { return slices.Sorted(maps.Keys(m)) }
