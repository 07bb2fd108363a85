package updater

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// The steps of a pass that read the world: resolving RANCHER_ENVIRONMENTS (ResolveEnvironments), reading one
// environment (ReadEnv) and fetching the tokens (FetchTokens). A pass calls them, and so does a diagnosis
// (ecr-updater doctor), so that it reads the world exactly as a pass does: with the same requests, bounds,
// deadlines and errors. None of them needs an Updater: they write nothing and change nothing an updater remembers
// (the rules that judge what they read are package plan's).

// readStageTimeouts bounds the stages that read from Rancher, in RANCHER_TIMEOUTs: connecting and listing the
// environments, and reading one environment. A list that pages slowly cannot hold a pass longer than that.
const readStageTimeouts = 10

// MaxTokenFetches bounds the token fetches in flight: ECR throttles per account and region, and a Rancher that
// names many regions must not make the updater open many connections at once.
const MaxTokenFetches = 4

// ResolveEnvironments resolves RANCHER_ENVIRONMENTS (sel) against srv exactly as a scheduled pass does: with no
// selection, the one environment of CATTLE_URL or of the key (key ""); otherwise every environment selected,
// inactive ones marked, unknown or ambiguous ones with an error. A *setting.Error is a selection no retry can fix.
func ResolveEnvironments(ctx context.Context, srv *rancher.Server, sel []string) ([]*EnvResult, error) {
	u := &Updater{server: srv, cfg: Config{Environments: sel}}
	return u.resolve(ctx)
}

// Key is the environment as asked for: the id to give rancher.Server.Open or Inspect, "" for the environment of
// CATTLE_URL or of the key.
func (e *EnvResult) Key() string { return e.key }

// Label names the environment for output: "1a5 (Default)", or "(the key's environment)".
func (e *EnvResult) Label() string { return e.label() }

// ReadOptions say how ReadEnv reads an environment.
type ReadOptions struct {
	// Timeout is RANCHER_TIMEOUT (0 means rancher.DefaultTimeout): reading one environment, connecting included,
	// is given up after readStageTimeouts of them.
	Timeout time.Duration
	// Services lists the environment's services too: with DISCOVER_REGISTRIES in a pass; doctor checks their
	// images.
	Services bool
	// Slots, when set, bounds the Rancher requests in flight: each request holds one while it runs (a pass
	// shares its RANCHER_CONCURRENCY slots between its environments and its writes).
	Slots chan struct{}
	// Env is the environment's client when the caller has one (from an earlier pass; doctor connects with
	// rancher.Server.Inspect, to report what the key may do there). Without it ReadEnv connects as a pass does,
	// with rancher.Server.Open: an environment the key may not write is an error.
	Env *rancher.Env
}

// EnvRead is what ReadEnv found in one environment.
type EnvRead struct {
	// Env is the environment's client, nil when connecting failed.
	Env *rancher.Env

	Registries  []rancher.Registry
	Credentials []rancher.Credential
	// Services are listed with ReadOptions.Services; ServicesErr is why they could not be: the registries and
	// credentials are read without them.
	Services    []rancher.Service
	ServicesErr error
}

// ReadEnv is the read step of a pass in one environment (key as EnvResult.Key): it connects (unless given
// ReadOptions.Env), then lists the registries and the credentials (and the services, with ReadOptions.Services)
// at once, all within the read stage's deadline of readStageTimeouts RANCHER_TIMEOUTs. The error is the
// connection's, or the registries' and credentials' (joined), and says so when the deadline cut the read short;
// what was read is returned with it.
func ReadEnv(ctx context.Context, srv *rancher.Server, key string, opts ReadOptions) (EnvRead, error) {
	limit := readStageTimeouts * rancherTimeout(opts.Timeout)
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	r, err := readEnv(rctx, srv, key, opts)
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("reading the environment took longer than %s (%d Rancher request timeouts), given up: %w", limit, readStageTimeouts, err)
	}
	return r, err
}

func readEnv(ctx context.Context, srv *rancher.Server, key string, opts ReadOptions) (EnvRead, error) {
	r := EnvRead{Env: opts.Env}
	slot := func() func() {
		if opts.Slots == nil {
			return func() {}
		}
		opts.Slots <- struct{}{}
		return func() { <-opts.Slots }
	}
	if r.Env == nil {
		var err error
		release := slot()
		r.Env, err = srv.Open(ctx, key)
		release()
		if err != nil {
			return r, err
		}
	}
	var regErr, credErr error
	var wg sync.WaitGroup
	list := func(do func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release := slot()
			defer release()
			do()
		}()
	}
	if opts.Services {
		list(func() { r.Services, r.ServicesErr = r.Env.Services(ctx) })
	}
	list(func() { r.Registries, regErr = r.Env.Registries(ctx) })
	list(func() { r.Credentials, credErr = r.Env.Credentials(ctx) })
	wg.Wait()
	return r, errors.Join(regErr, credErr)
}

func rancherTimeout(t time.Duration) time.Duration {
	if t > 0 {
		return t
	}
	return rancher.DefaultTimeout
}

// FetchTokens is the token step of a pass: a new token for each region, or why there is none, at most
// MaxTokenFetches fetches in flight. The scrubber learns each password as soon as it arrives.
func FetchTokens(ctx context.Context, client *ecr.Client, regions []string, scrubber *redact.Scrubber) map[string]plan.TokenResult {
	out := make(map[string]plan.TokenResult, len(regions))
	var mu sync.Mutex
	parallel.ForEach(len(regions), MaxTokenFetches, func(i int) {
		var t plan.TokenResult
		t.Token, t.Err = client.Token(ctx, regions[i])
		if t.Err == nil {
			scrubber.AddTransient(t.Token.Password, t.Token.Raw)
		}
		mu.Lock()
		out[regions[i]] = t
		mu.Unlock()
	})
	return out
}
