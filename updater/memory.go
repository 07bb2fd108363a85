package updater

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/plan"
)

// What a pass leaves the updater in, as /healthz says it.
const (
	// StatusOK: every in-scope registry holds a fresh password.
	StatusOK = "ok"
	// StatusDegraded: some registries, regions or environments cannot be refreshed, and the rest is fresh. The
	// updater is doing its job; the problems are listed, warned about every pass and retried.
	StatusDegraded = "degraded"
	// StatusFailing: the updater cannot do its job: Rancher is unreachable or refuses the key, no environment can
	// be read, or every in-scope registry is failing (no token for any region in use, every write failing).
	StatusFailing = "failing"
)

// Reasons of a Problem.
const (
	ReasonRead  = "read"  // the environment could not be read
	ReasonToken = "token" // no valid ECR token for the registry's region
	ReasonWrite = "write" // the credential write failed
	// ReasonDiscover: the services could not be read, so DISCOVER_REGISTRIES created nothing this pass.
	ReasonDiscover = "discover"
)

// Problem is one thing the updater cannot refresh: a registry, a whole environment, or an AUTO_CREATE. Error says
// what kind of error stands in the way (an AWS error code, Rancher's HTTP status, a timeout) and what it stops,
// never the error's own text, which the log has: /healthz shows it to anyone who reaches the port.
type Problem struct {
	Env           string `json:"env"`
	Registry      string `json:"registry,omitempty"`
	ServerAddress string `json:"server_address,omitempty"`
	Region        string `json:"region,omitempty"`
	Reason        string `json:"reason"`
	Error         string `json:"error"`
}

// memory is all the updater remembers between passes. A pass reads it; only record changes it. Only the goroutine
// that runs passes touches it.
type memory struct {
	// targets are the environments RANCHER_ENVIRONMENTS resolved to, as of the last scheduled pass that got that
	// far (nil before).
	targets []*EnvResult
	// written is what the updater wrote, by environment key: the credentials and the token each holds. A credential
	// Rancher reports changed (not by the updater) is forgotten, so the next pass writes it again.
	written map[string]map[string]plan.TokenID
	// envs is what the last read of each environment found, by key.
	envs map[string]*envState
	// tokens is the current token of each region, or why there is none (a failed fetch, until a pass fetches
	// it again).
	tokens map[string]plan.TokenResult
	due    dues
}

// envState is what the last read of an environment found, kept until the environment is read again.
type envState struct {
	inScope  int
	problems []Problem
	read     time.Time // when the pass that read it started
}

// dues says when the next passes are owed and what each covers.
type dues struct {
	// scheduled is when the next scheduled pass is due (every environment, new tokens); zero: at once.
	scheduled time.Time
	// retry is when what is failing is retried: the environments with a problem and those of a pass that failed
	// whole (retryEnvs); zero: nothing to retry.
	retry     time.Time
	retryEnvs map[string]bool
	// changed are the environments Rancher reported a change of, each with when it is due (debounced).
	changed map[string]time.Time
}

func newMemory() memory {
	return memory{written: map[string]map[string]plan.TokenID{}, envs: map[string]*envState{},
		tokens: map[string]plan.TokenResult{}, due: dues{retryEnvs: map[string]bool{}, changed: map[string]time.Time{}}}
}

// learn records what a pass found: the environments it resolved, what it wrote where, the problems of every
// environment it read, and the tokens it fetched.
func (m *memory) learn(res *Result, scrubber *redact.Scrubber) {
	if res.Err != nil {
		return // nothing was read
	}
	if res.Kind == PassScheduled {
		// What the updater knew of environments no longer served goes with them.
		m.targets = make([]*EnvResult, len(res.Envs))
		for i, e := range res.Envs {
			m.targets[i] = &EnvResult{ID: e.ID, Name: e.Name, key: e.key, SkipReason: e.SkipReason}
		}
		m.tokens = map[string]plan.TokenResult{}
		served := res.served()
		maps.DeleteFunc(m.envs, func(key string, _ *envState) bool { return !served[key] })
		maps.DeleteFunc(m.written, func(key string, _ map[string]plan.TokenID) bool { return !served[key] })
	}
	for region, t := range res.planned {
		m.tokens[region] = t
	}
	for _, e := range res.Envs {
		m.learnEnv(res, e, scrubber)
	}
}

// learnEnv records what a pass found in one environment.
func (m *memory) learnEnv(res *Result, e *EnvResult, scrubber *redact.Scrubber) {
	for _, t := range m.targets {
		if t.key == e.key && t.ID == "" {
			t.ID = e.ID // a retry or a pass for a change may be the first to read the environment of the key
		}
	}
	switch {
	case e.SkipReason != "":
		delete(m.envs, e.key)
		delete(m.written, e.key)
		return
	case e.Err != nil:
		m.envs[e.key] = &envState{problems: []Problem{{Env: e.label(), Reason: ReasonRead, Error: errorKind(e.Err) + ": environment not read"}}}
		return
	}
	st := &envState{inScope: e.Plan.InScope, read: res.Start}
	m.envs[e.key] = st
	if e.DiscoverErr != nil {
		st.problems = append(st.problems, Problem{Env: e.label(), Reason: ReasonDiscover,
			Error: errorKind(e.DiscoverErr) + ": services not read, so no registry discovered"})
	}
	for _, f := range e.Plan.Failures {
		// The address may name a setting ("(auto-creation in us-east-1)"): like the error, it passes the scrubber.
		st.problems = append(st.problems, Problem{Env: e.label(), Registry: f.RegistryID, ServerAddress: scrubber.Scrub(f.ServerAddress),
			Region: f.Region, Reason: ReasonToken, Error: scrubber.Scrub(tokenProblem(res.planned[f.Region].Err, f))})
	}
	held := e.held // what the credentials listed held before the pass; the others are gone
	for _, w := range e.Writes {
		switch w.Outcome {
		case OutcomeUpdated, OutcomeCreated:
			held[w.CredentialID] = w.Token
		case OutcomeFailed:
			delete(held, w.CredentialID) // it may hold anything now
			st.problems = append(st.problems, Problem{Env: e.label(), Registry: w.RegistryID, ServerAddress: w.ServerAddress,
				Region: w.Region, Reason: ReasonWrite, Error: errorKind(w.Err) + ": credential not written"})
		}
	}
	m.written[e.key] = held
}

// forget takes note of changes Rancher reported in an environment: these credentials (all of them with all) may
// hold anything now.
func (m *memory) forget(key string, ids map[string]bool, all bool) {
	if all {
		delete(m.written, key)
		return
	}
	for id := range ids {
		delete(m.written[key], id)
	}
}

// problems lists the problems of every environment, sorted.
func (m *memory) problems() []Problem {
	var out []Problem
	for _, st := range m.envs {
		out = append(out, st.problems...)
	}
	slices.SortFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Env, b.Env), cmp.Compare(len(a.Registry), len(b.Registry)),
			cmp.Compare(a.Registry, b.Registry), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.ServerAddress, b.ServerAddress))
	})
	return out
}

// assess says what the remembered state means: failing when no environment could be read or when every
// in-scope registry (or, with none in scope, the AUTO_CREATE token) is failing; degraded with any problem.
func (m *memory) assess() string {
	readable, inScope, failing, tokenProblems, any := 0, 0, map[string]bool{}, 0, false
	for key, st := range m.envs {
		read := true
		for _, p := range st.problems {
			any = true
			switch {
			case p.Reason == ReasonRead:
				read = false
			case p.Registry != "":
				failing[key+"/"+p.Registry] = true
			case p.Reason == ReasonToken:
				tokenProblems++
			}
		}
		if read {
			readable++
			inScope += st.inScope
		}
	}
	switch {
	case len(m.envs) > 0 && readable == 0:
		return StatusFailing
	case inScope > 0 && len(failing) >= inScope:
		return StatusFailing
	case inScope == 0 && tokenProblems > 0:
		return StatusFailing
	case any:
		return StatusDegraded
	}
	return StatusOK
}

// readable reports whether the last read of an environment succeeded.
func (m *memory) readable(key string) bool {
	st := m.envs[key]
	return st != nil && (len(st.problems) == 0 || st.problems[0].Reason != ReasonRead)
}

// changed makes an environment due for changes Rancher reported, the first at first: Debounce later, so that a
// burst is one pass, and no sooner than minEventGap after the start of the last pass that read it. An environment
// due already stays due when it was.
func (m *memory) changed(key string, first time.Time) {
	at := first.Add(Debounce)
	if st := m.envs[key]; st != nil && at.Before(st.read.Add(minEventGap)) {
		at = st.read.Add(minEventGap)
	}
	if old, ok := m.due.changed[key]; !ok || at.Before(old) {
		m.due.changed[key] = at
	}
}

// next is when the next pass is due.
func (m *memory) next() time.Time {
	at := m.due.scheduled
	if !m.due.retry.IsZero() && m.due.retry.Before(at) {
		at = m.due.retry
	}
	for _, t := range m.due.changed {
		if t.Before(at) {
			at = t
		}
	}
	return at
}

// take returns what is due at now and takes it off the dues; ok is false when nothing is. A scheduled pass covers
// everything; otherwise the retry covers the environments with a problem (and those of a pass that failed whole),
// and each environment whose changes are due is covered for them.
func (m *memory) take(now time.Time) (Due, bool) {
	if !m.due.scheduled.After(now) {
		m.due.retry = time.Time{}
		clear(m.due.retryEnvs)
		clear(m.due.changed)
		return Due{Scheduled: true}, true
	}
	due := Due{Envs: map[string]string{}}
	for key, at := range m.due.changed {
		if !at.After(now) {
			due.Envs[key] = PassEvent
			delete(m.due.changed, key)
		}
	}
	if !m.due.retry.IsZero() && !m.due.retry.After(now) {
		for key, st := range m.envs {
			if len(st.problems) > 0 {
				due.Envs[key] = PassRetry
			}
		}
		for key := range m.due.retryEnvs {
			due.Envs[key] = PassRetry
		}
		m.due.retry = time.Time{}
		clear(m.due.retryEnvs)
	}
	return due, len(due.Envs) > 0
}
