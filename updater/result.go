package updater

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/plan"
)

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
	Op                                                   plan.Op
	Outcome                                              Outcome
	// RegistryCreated is true when AUTO_CREATE or discovery made the registry; Service names the service whose
	// image a discovered registry serves.
	RegistryCreated bool
	Service         string
	ExpiresAt       time.Time
	// Token names the token written (what the credential holds once written).
	Token plan.TokenID
	Err   error
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
	Plan        plan.EnvPlan
	Writes      []Write
	Requests    int64

	// What the read found that the memory keeps: what the updater knew it had written into the credentials
	// listed (it forgets the others: they are gone) and, with DISCOVER_REGISTRIES, the images of each service (by
	// id, as a digest).
	held   map[string]plan.TokenID
	images map[string]imagesDigest
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
	// Kind says why the pass ran: PassScheduled (every environment, new tokens), PassRetry (something failed) or
	// PassEvent (Rancher reported a change).
	Kind string
	Envs []*EnvResult
	// Tokens are the tokens the pass fetched, by region, TokenErrors the fetches that failed.
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
	// Status is what the pass leaves the updater in: StatusOK, StatusDegraded or StatusFailing.
	Status string
	// Problems are every registry (or environment, or region) that cannot be refreshed, as of the end of the pass:
	// found by this pass, or by an earlier one in an environment this pass did not read.
	Problems []Problem

	// due is what the pass covered; planned are the tokens the plans were made with, by region: fetched, current,
	// or a failure remembered.
	due     Due
	planned map[string]plan.TokenResult
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

// count fills the counts from what each environment did; the pass calls it once, at its end.
func (r *Result) count() {
	for _, e := range r.Envs {
		switch {
		case e.SkipReason != "":
			r.EnvsSkipped++
			continue
		case e.Err != nil:
			r.FailedEnvs++
			continue
		}
		r.Seen += e.Plan.Seen
		r.InScope += e.Plan.InScope
		r.Skipped += len(e.Plan.Skipped)
		r.FailedRegistries += len(e.Plan.Failures)
		for _, w := range e.Writes {
			switch w.Outcome {
			case OutcomeUpdated:
				r.Updated++
			case OutcomeCreated:
				r.Created++
				if w.RegistryCreated {
					r.RegistriesCreated++
				}
			case OutcomeGone, OutcomeExists:
				r.Skipped++
			case OutcomeFailed:
				r.FailedRegistries++
			}
		}
	}
}

// describe is a one-line account of the first thing that went wrong, "" when nothing did: with text the error's
// own words (the log's), else only the kind of each error (errorKind: /healthz, which anyone who reaches the port
// reads, never shows what AWS or Rancher said).
func (r *Result) describe(text bool) string {
	say := func(err error, what string) string {
		if text {
			return err.Error()
		}
		return errorKind(err) + ": " + what
	}
	if r.Err != nil {
		return say(r.Err, "the pass failed (Rancher not reached, or the environments not listed)")
	}
	if regions := sortedRegions(r.TokenErrors); len(regions) > 0 {
		return fmt.Sprintf("%d failures; first: %s", r.Failures(), say(r.TokenErrors[regions[0]], "no ECR token for region "+regions[0]))
	}
	for _, e := range r.Envs {
		if e.Err != nil {
			return fmt.Sprintf("%d failures; first: %s", r.Failures(), say(e.Err, "environment "+e.label()+" not read"))
		}
		if len(e.Plan.Failures) > 0 {
			f := e.Plan.Failures[0]
			if text {
				return fmt.Sprintf("%d failures; first: registry %s in %s: %v", r.Failures(), f.ServerAddress, e.label(), f.Err)
			}
			return fmt.Sprintf("%d failures; first: %s", r.Failures(), tokenProblem(r.planned[f.Region].Err, f))
		}
		for _, w := range e.Writes {
			if w.Outcome == OutcomeFailed {
				return fmt.Sprintf("%d failures; first: %s", r.Failures(), say(w.Err, "writing the credential of registry "+w.ServerAddress+" failed"))
			}
		}
	}
	return ""
}

// sortedRegions returns the keys of a map by region, sorted.
func sortedRegions[T any](m map[string]T) []string { return slices.Sorted(maps.Keys(m)) }

// served is the set of the keys of the environments the pass covered.
func (r *Result) served() map[string]bool {
	out := make(map[string]bool, len(r.Envs))
	for _, e := range r.Envs {
		out[e.key] = true
	}
	return out
}
