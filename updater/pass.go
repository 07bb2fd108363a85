package updater

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// Kinds of pass, as Result.Kind says: why the environments of the pass were due.
const (
	PassScheduled = "scheduled" // every environment, new tokens
	PassRetry     = "retry"     // something failed
	PassEvent     = "event"     // Rancher reported a change
)

// Due is what a pass covers.
type Due struct {
	// Scheduled asks for a scheduled pass: RANCHER_ENVIRONMENTS is resolved again, every environment is read,
	// and every token is new, so every credential is written.
	Scheduled bool
	// Envs are the environments due otherwise, by key, each with why: PassRetry or PassEvent. Such a pass uses the
	// current token of a region while it is fresh (more than half its lifetime left), and writes only the
	// credentials that do not hold it.
	Envs map[string]string
}

// Kind names the pass for logs and metrics: the strongest reason among the environments due.
func (d Due) Kind() string {
	if d.Scheduled {
		return PassScheduled
	}
	for _, why := range d.Envs {
		if why == PassRetry {
			return PassRetry
		}
	}
	return PassEvent
}

// Pass runs one scheduled pass (every environment, new tokens, every credential) and records it.
func (u *Updater) Pass(ctx context.Context) *Result {
	res := u.RunOnce(ctx, Due{Scheduled: true})
	u.record(res)
	return res
}

// RunOnce runs one pass over what is due: it reads the environments due, plans each against the current token of
// each region, applies the plans, and returns the Result. It changes nothing the updater remembers: record does.
// Once ctx is done it starts no new work and cancels what is in flight.
func (u *Updater) RunOnce(ctx context.Context, due Due) *Result { return u.runOnce(ctx, ctx, due) }

// runOnce is RunOnce with two contexts: once stop is done the pass starts no new work; requests in flight are
// cancelled only by inflight (or by the pass's own deadline).
func (u *Updater) runOnce(stop, inflight context.Context, due Due) *Result {
	res := &Result{Start: u.clock.Now(), DryRun: u.cfg.DryRun, Kind: due.Kind(), Tokens: map[string]ecr.Token{},
		TokenErrors: map[string]error{}, due: due}
	// For /livez: the pass is bounded by the deadlines of dialling and resolving the environments, then by its budget.
	u.health.passStarted(res.Start.Add(2 * readStageTimeouts * u.rancherTimeout()))
	before, err := u.dial(inflight)
	if err == nil {
		res.Envs, err = u.targets(inflight, due)
	}
	if err != nil {
		res.Err = err
		return u.finish(res, before)
	}
	budget := u.passBudget(len(res.Envs))
	inflight, cancel := context.WithTimeout(inflight, budget)
	defer cancel()
	u.health.passStarted(u.clock.Now().Add(budget))

	envs := u.readAll(stop, inflight, res.Envs)
	var classes []plan.Classes
	for _, ep := range envs {
		if ep != nil {
			classes = append(classes, ep.classes)
		}
	}
	res.planned = u.tokens(inflight, plan.Regions(u.cfg.Rules, classes), due, res)
	parallel.ForEach(len(envs), u.cfg.Concurrency, func(i int) {
		if ep := envs[i]; ep != nil {
			ep.res.Plan = plan.Plan(u.cfg.Rules, ep.snap, ep.classes, res.planned)
			ep.res.Writes = u.apply(stop, inflight, ep, ep.res.Plan.Actions)
			ep.res.Requests = ep.env.Requests() - ep.start
		}
	})
	return u.finish(res, before)
}

// finish completes a result: its duration, the Rancher requests of the pass, the counts.
func (u *Updater) finish(res *Result, before int64) *Result {
	if u.server != nil {
		res.RancherRequests = u.server.Requests() - before
	}
	res.Duration = u.clock.Now().Sub(res.Start)
	res.count()
	return res
}

// envPass is one environment in one pass: the client, what was read, what the rules make of it.
type envPass struct {
	res     *EnvResult
	env     *rancher.Env
	snap    plan.Snapshot
	classes plan.Classes
	start   int64 // the environment's request count before the pass
}

// passBudget is the deadline of a whole pass over n environments, derived from the settings: the read stages,
// the token fetches, and the writes of ceil(n/concurrency) rounds of environments.
func (u *Updater) passBudget(n int) time.Duration {
	rounds := (max(n, 1) + u.cfg.Concurrency - 1) / u.cfg.Concurrency
	return 2*u.ecrTimeout() + u.rancherTimeout()*time.Duration(readStageTimeouts+30*rounds)
}

func (u *Updater) rancherTimeout() time.Duration { return rancherTimeout(u.cfg.Rancher.Timeout) }

func (u *Updater) ecrTimeout() time.Duration {
	if u.cfg.ECR.Timeout > 0 {
		return u.cfg.ECR.Timeout
	}
	return ecr.DefaultTimeout
}

// dial connects to Rancher once (again after a failure) and returns its request count so far. It is bounded by
// the read stage's deadline.
func (u *Updater) dial(inflight context.Context) (int64, error) {
	if u.server != nil {
		return u.server.Requests(), nil
	}
	ctx, cancel := context.WithTimeout(inflight, readStageTimeouts*u.rancherTimeout())
	defer cancel()
	srv, err := rancher.Dial(ctx, u.cfg.Rancher)
	if err != nil {
		return 0, err
	}
	u.server = srv
	return 0, nil
}

// targets are the environments of a pass: RANCHER_ENVIRONMENTS resolved again for a scheduled pass (or before
// any was resolved), else those due among the environments resolved last.
func (u *Updater) targets(inflight context.Context, due Due) ([]*EnvResult, error) {
	if due.Scheduled || u.mem.targets == nil {
		ctx, cancel := context.WithTimeout(inflight, readStageTimeouts*u.rancherTimeout())
		defer cancel()
		return u.resolve(ctx)
	}
	var out []*EnvResult
	for _, t := range u.mem.targets {
		if _, ok := due.Envs[t.key]; ok {
			out = append(out, &EnvResult{ID: t.ID, Name: t.Name, key: t.key, SkipReason: t.SkipReason})
		}
	}
	return out, nil
}

// resolve resolves RANCHER_ENVIRONMENTS into the environments of a scheduled pass.
func (u *Updater) resolve(ctx context.Context) ([]*EnvResult, error) {
	if len(u.cfg.Environments) == 0 {
		return []*EnvResult{{ID: "", key: ""}}, nil
	}
	all, err := u.server.Environments(ctx)
	if err != nil {
		return nil, err
	}
	var out []*EnvResult
	seen := map[string]bool{}
	add := func(e rancher.Environment) {
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
				add(e)
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
			add(match[0])
		case 0:
			if kind := u.server.KeyKind(); kind != "" && !u.server.IsAccountKey() {
				what := "an Environment API key"
				if u.server.IsAgentKey() {
					what = "the key Rancher gave this container (agent labels)"
				}
				return nil, setting.Errorf(setting.Environments, "names %q, but %s is %s (kind %q), which sees only its own environment; use an Account API key to reach other environments",
					sel, setting.AccessKey, what, kind)
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

// readAll reads every environment of the pass at once (at most Concurrency requests at a time), each with
// ReadEnv (within the read stage's deadline); an environment not read has a nil entry.
func (u *Updater) readAll(stop, inflight context.Context, targets []*EnvResult) []*envPass {
	envs := make([]*envPass, len(targets))
	parallel.ForEach(len(targets), u.cfg.Concurrency, func(i int) {
		t := targets[i]
		if t.Err != nil || t.SkipReason != "" {
			return
		}
		if err := stop.Err(); err != nil {
			t.Err = fmt.Errorf("read environment %s: stopped: %w", t.label(), err)
			return
		}
		ep := &envPass{res: t}
		if err := u.read(inflight, ep); err != nil {
			t.Err = err
			return
		}
		if t.ID == "" {
			t.ID = ep.env.ID()
		}
		envs[i] = ep
	})
	return envs
}

// read reads one environment into ep (ReadEnv, with the client kept from the last pass until it fails) and
// classifies what it found.
func (u *Updater) read(ctx context.Context, ep *envPass) error {
	key := ep.res.key
	env := u.cached(key)
	if env != nil {
		ep.start = env.Requests()
	}
	r, err := ReadEnv(ctx, u.server, key, ReadOptions{Timeout: u.cfg.Rancher.Timeout, Services: u.cfg.Rules.Discover, Slots: u.sem, Env: env})
	if err != nil {
		if r.Env != nil {
			u.forget(key, r.Env)
		}
		return err
	}
	u.keep(key, r.Env)
	ep.env = r.Env
	ep.snap = plan.Snapshot{Env: r.Env.ID(), Registries: r.Registries, Credentials: r.Credentials, Services: r.Services, Held: u.mem.written[key]}
	ep.classes = plan.Classify(u.cfg.Rules, ep.snap)
	ep.res.held = map[string]plan.TokenID{}
	for _, c := range r.Credentials {
		if t, ok := u.mem.written[key][c.ID]; ok {
			ep.res.held[c.ID] = t
		}
	}
	// Without the services, registries are still refreshed; only discovery waits for the next pass.
	ep.res.DiscoverErr = r.ServicesErr
	if u.cfg.Rules.Discover && r.ServicesErr == nil {
		ep.res.images = imagesOf(r.Services)
	}
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

// tokens returns one token per region, or why there is none: a new one in a scheduled pass; otherwise the
// current token while it is fresh (more than half its lifetime left), the failure of the last fetch in a pass
// for changes only (a failing region is fetched again as the retries come, never for each change), and else a
// new one. Fetched tokens and failures are recorded in res, and the scrubber learns each password at once.
func (u *Updater) tokens(ctx context.Context, regions []string, due Due, res *Result) map[string]plan.TokenResult {
	out := make(map[string]plan.TokenResult, len(regions))
	var fetch []string
	now := u.clock.Now()
	for _, region := range regions {
		cur, ok := u.mem.tokens[region]
		switch {
		case !ok || due.Scheduled:
			fetch = append(fetch, region)
		case cur.Err == nil && cur.Token.ExpiresAt.Sub(now) > cur.Token.Lifetime()/2:
			out[region] = cur
		case cur.Err != nil && due.Kind() == PassEvent:
			out[region] = cur
		default:
			fetch = append(fetch, region)
		}
	}
	fetched := FetchTokens(ctx, u.ecr, fetch, u.cfg.Scrubber)
	res.ECRCalls = len(fetch)
	for _, region := range fetch {
		t := fetched[region]
		if t.Err != nil {
			res.TokenErrors[region] = t.Err
		} else {
			t.ID = plan.TokenID{Region: region, Serial: u.serial.Add(1)}
			res.Tokens[region] = t.Token
		}
		out[region] = t
	}
	if len(res.Tokens) > 0 && !u.sourceLogged {
		u.sourceLogged = true
		u.log.WithField("source", u.ecr.CredentialSource()).Info("AWS credentials found")
	}
	return out
}

// apply performs the actions of one environment, at most Concurrency requests in flight; one failure never stops
// the others. A write that failed for another reason than the credential being gone drops the environment's
// client, so that the next pass connects again.
func (u *Updater) apply(stop, inflight context.Context, ep *envPass, actions []plan.Action) []Write {
	writes := make([]Write, len(actions))
	parallel.ForEach(len(actions), u.cfg.Concurrency, func(i int) {
		writes[i] = u.write(stop, inflight, ep.res.key, ep.env, actions[i])
	})
	for _, w := range writes {
		if w.Err != nil && !rancher.IsNotFound(w.Err) {
			u.forget(ep.res.key, ep.env)
			break
		}
	}
	return writes
}

// write performs one action. Before a credential is written, the updater expects Rancher's report of that write
// (its echo), so that the echo is never taken for a change, however soon or late it comes.
func (u *Updater) write(stop, inflight context.Context, key string, env *rancher.Env, a plan.Action) Write {
	w := Write{Env: a.Env, RegistryID: a.RegistryID, ServerAddress: a.ServerAddress, CredentialID: a.Credential.ID,
		Region: a.Token.Region, ExpiresAt: a.Token.ExpiresAt, Op: a.Op, Service: a.Service, Token: a.TokenID}
	if u.cfg.DryRun {
		w.Outcome = OutcomeWouldCreate
		if a.Op == plan.OpUpdate {
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
	case plan.OpUpdate:
		u.inbox.expect(key, a.Credential.ID, u.clock.Now())
		err = env.UpdateCredential(inflight, a.Credential, ecr.User, a.Token.Password)
		if rancher.StatusOf(err) != 0 {
			u.inbox.unexpect(key, a.Credential.ID) // Rancher refused it: no echo comes
		}
		w.Outcome = OutcomeUpdated
	case plan.OpCreateCredential:
		w.CredentialID, err = u.createCredential(inflight, key, env, a.RegistryID, a.Token)
		w.Outcome = OutcomeCreated
	case plan.OpCreateRegistry:
		var reg rancher.Registry
		reg, err = env.CreateRegistry(inflight, a.ServerAddress)
		if errors.Is(err, rancher.ErrRegistryExists) {
			w.Outcome = OutcomeExists
			return w
		}
		if err == nil {
			u.inbox.expect(key, reg.ID, u.clock.Now())
			w.RegistryID, w.RegistryCreated = reg.ID, true
			w.CredentialID, err = u.createCredential(inflight, key, env, reg.ID, a.Token)
			w.Outcome = OutcomeCreated
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

// createCredential creates a registry's credential and expects its echo. The id is known only once Rancher has
// answered, well before Rancher publishes the change (once a second).
func (u *Updater) createCredential(ctx context.Context, key string, env *rancher.Env, registryID string, tok ecr.Token) (string, error) {
	c, err := env.CreateCredential(ctx, registryID, ecr.User, tok.Password)
	if err == nil {
		u.inbox.expect(key, c.ID, u.clock.Now())
	}
	return c.ID, err
}

// imagesOf returns the images of each service, by id, as the inbox compares them with a service's event.
func imagesOf(services []rancher.Service) map[string]imagesDigest {
	out := make(map[string]imagesDigest, len(services))
	for _, s := range services {
		imgs := make([]string, len(s.Images))
		for i, img := range s.Images {
			imgs[i] = img.ImageUUID
		}
		out[s.ID] = digestImages(imgs)
	}
	return out
}
