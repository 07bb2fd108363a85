package updater

import (
	"cmp"
	"slices"
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

// Problem is one thing the updater cannot refresh: a registry, a whole environment, or an AUTO_CREATE.
type Problem struct {
	Env           string `json:"env"`
	Registry      string `json:"registry,omitempty"`
	ServerAddress string `json:"server_address,omitempty"`
	Region        string `json:"region,omitempty"`
	Reason        string `json:"reason"`
	Error         string `json:"error"`
}

// envState is what the last read of an environment found, kept until the environment is read again.
type envState struct {
	inScope  int
	problems []Problem
}

// unread reports whether the last attempt to read the environment failed.
func (st *envState) unread() bool {
	for _, p := range st.problems {
		if p.Reason == ReasonRead {
			return true
		}
	}
	return false
}

// names copies what names the environments of a pass (and whether they were skipped): what the updater keeps of
// them between passes, where the Result's plans, writes and tokens would otherwise stay reachable.
func names(envs []*EnvResult) []*EnvResult {
	out := make([]*EnvResult, len(envs))
	for i, e := range envs {
		out[i] = &EnvResult{ID: e.ID, Name: e.Name, key: e.key, SkipReason: e.SkipReason}
	}
	return out
}

// remember records what a pass found: the credentials it wrote (fresh until the next scheduled pass), the
// problems of each environment it read, and from those the status and problems of the whole updater.
func (u *Updater) remember(res *Result, sc scope) {
	if res.Err != nil {
		res.Status = StatusFailing
		res.Problems = u.allProblems()
		return
	}
	if sc.full {
		u.fresh = map[string]map[string]bool{}
		u.state = map[string]*envState{}
		u.lastTargets = names(res.Envs)
	}
	for _, e := range res.Envs {
		if !sc.full && e.ID != "" {
			// A retry or small pass may be the first to read an environment the scheduled pass could not name.
			for _, t := range u.lastTargets {
				if t.key == e.key && t.ID == "" {
					t.ID = e.ID
				}
			}
		}
		if e.SkipReason != "" {
			delete(u.state, e.key)
			continue
		}
		st, old := &envState{}, u.state[e.key]
		u.state[e.key] = st
		if only := sc.only[e.key]; only != nil && old != nil && e.Err == nil {
			// A small pass planned only some registries: the problems of the others stand.
			for _, p := range old.problems {
				if p.Registry != "" && !only[p.Registry] {
					st.problems = append(st.problems, p)
				}
			}
		}
		if e.Err != nil {
			st.problems = []Problem{{Env: e.label(), Reason: ReasonRead, Error: u.scrub(e.Err)}}
			continue
		}
		st.inScope = e.Plan.InScope
		if e.DiscoverErr != nil {
			st.problems = append(st.problems, Problem{Env: e.label(), Reason: ReasonDiscover, Error: u.scrub(e.DiscoverErr)})
		}
		for _, f := range e.Plan.Failures {
			st.problems = append(st.problems, Problem{Env: e.label(), Registry: f.RegistryID, ServerAddress: f.ServerAddress,
				Region: f.Region, Reason: ReasonToken, Error: u.scrub(tokenError(res, f))})
		}
		fresh := u.fresh[e.key]
		if fresh == nil {
			fresh = map[string]bool{}
			u.fresh[e.key] = fresh
		}
		for _, w := range e.Writes {
			switch w.Outcome {
			case OutcomeUpdated, OutcomeCreated:
				fresh[w.CredentialID] = true
			case OutcomeFailed:
				st.problems = append(st.problems, Problem{Env: e.label(), Registry: w.RegistryID, ServerAddress: w.ServerAddress,
					Region: w.Region, Reason: ReasonWrite, Error: u.scrub(w.Err)})
			}
		}
	}
	res.Problems = u.allProblems()
	res.Status = u.assess()
}

// tokenError is the error of the token a failure lacked, or the failure's own.
func tokenError(res *Result, f Failure) error {
	if err, ok := res.TokenErrors[f.Region]; ok && f.RegistryID != "" {
		return err
	}
	return f.Err
}

func (u *Updater) scrub(err error) string {
	if err == nil {
		return ""
	}
	return u.cfg.Scrubber.Scrub(err.Error())
}

// allProblems lists the problems of every environment, sorted.
func (u *Updater) allProblems() []Problem {
	var out []Problem
	for _, st := range u.state {
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
func (u *Updater) assess() string {
	readable, inScope, failing, tokenProblems, any := 0, 0, map[string]bool{}, 0, false
	for key, st := range u.state {
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
	case len(u.state) > 0 && readable == 0:
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

// retryScope is what a retry covers: the environments with a problem.
func (u *Updater) retryScope() scope {
	sc := scope{envs: map[string]bool{}}
	for key, st := range u.state {
		if len(st.problems) > 0 {
			sc.envs[key] = true
		}
	}
	return sc
}
