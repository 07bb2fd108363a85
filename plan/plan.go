// Package plan owns the rules of a pass: what a pass reads of an environment (a Snapshot), what the rules make of
// its registries and services (Classify), which regions need a token (Regions), and the writes to make (Plan).
// Every function is pure: no network, no clock, no state between calls; the same input gives the same plan. The
// updater applies the plans; doctor judges the world with the same functions, so that what it reports is what a
// pass would do.
//
// The rules, numbered as Plan's doc and the tests name them:
//
//  1. Scope: active registries whose normalised serverAddress is an ECR host, of the accounts and regions the
//     rules allow. Unparsable addresses are skipped with a reason; other registries are untouched.
//  2. A registry whose region has no valid token is a failure; nothing is written to it.
//  3. Every active credential of an in-scope registry is written; a registry without an active credential gets
//     one created, unless one is on its way to active. Removed, removing and inactive credentials are untouched.
//  4. AUTO_CREATE: the registry of the caller's own account in HomeRegion (or of each account in Accounts) is
//     created when no registry of the environment has that host.
//  5. Current: a credential that holds its region's current token (Snapshot.Held names the token the updater
//     wrote into it) is not written again. A scheduled pass brings new tokens, so it writes every credential; a
//     retry or a pass for a change writes only what is not current.
//  6. A registry or credential listed twice (overlapping pages) counts once: never two writes for one credential,
//     never two creates for one registry.
//  7. DISCOVER_REGISTRIES: every in-scope ECR image a service uses (launchConfig and sidekicks) for which Rancher
//     finds no registry (RegistryFor) gets its registry created, with its credential, like AUTO_CREATE; unless a
//     registry of that host exists in another state or spelling, which a create would collide with.
package plan

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// Rules are the settings a plan depends on.
type Rules struct {
	// Accounts restricts the scope to registries of these 12-digit accounts (AWS_ECR_REGISTRY_IDS); empty: all.
	Accounts []string
	// Regions restricts the scope to these regions (ECR_REGIONS); empty: all.
	Regions []string
	// AutoCreate creates the registries of the caller's own account (or of each of Accounts) in HomeRegion when
	// an environment has none.
	AutoCreate bool
	// HomeRegion is AWS_REGION.
	HomeRegion string
	// Discover creates, in each environment, the in-scope ECR registries its services' images use and it lacks
	// (DISCOVER_REGISTRIES).
	Discover bool
}

// AccountInScope applies AWS_ECR_REGISTRY_IDS.
func (r Rules) AccountInScope(account string) bool {
	return len(r.Accounts) == 0 || slices.Contains(r.Accounts, account)
}

// RegionInScope applies ECR_REGIONS.
func (r Rules) RegionInScope(region string) bool {
	return len(r.Regions) == 0 || slices.Contains(r.Regions, region)
}

// Snapshot is what a pass read of one environment, and what the updater remembers writing there.
type Snapshot struct {
	Env         string
	Registries  []rancher.Registry
	Credentials []rancher.Credential
	// Services are the environment's services, read when Rules.Discover is on.
	Services []rancher.Service
	// Held names, by credential id, the token the updater wrote into each credential (rule 5). Empty: nothing is
	// known to be current, so every credential is written.
	Held map[string]TokenID
}

// TokenID names one token of a region without holding any part of it: the region, and the number the updater gave
// the token when it arrived (a process counts its tokens from 1). The zero TokenID names no token.
type TokenID struct {
	Region string
	Serial uint64
}

// TokenResult is the outcome of fetching one region's token: the token and its id, or why there is none.
type TokenResult struct {
	Token ecr.Token
	ID    TokenID
	Err   error
}

// Op is what an action does.
type Op string

const (
	// OpUpdate writes the region's password into an existing active credential.
	OpUpdate Op = "update"
	// OpCreateCredential adds a credential to an in-scope registry that has no active one.
	OpCreateCredential Op = "create credential"
	// OpCreateRegistry adds a registry (AUTO_CREATE, DISCOVER_REGISTRIES) and then its credential.
	OpCreateRegistry Op = "create registry"
)

// Action is one planned write.
type Action struct {
	Op            Op
	Env           string
	RegistryID    string // "" for OpCreateRegistry
	ServerAddress string
	Credential    rancher.Credential // for OpUpdate
	Token         ecr.Token
	// TokenID names Token (rule 5: what the credential holds once written).
	TokenID TokenID
	// Service names the service whose image a discovered registry serves (OpCreateRegistry with Rules.Discover).
	Service string
}

// Notice is a registry the plan says something about: why it is skipped, or why Rancher will never use it.
type Notice struct {
	RegistryID, ServerAddress, Reason string
}

// Failure is an in-scope registry that cannot be written this pass.
type Failure struct {
	RegistryID, ServerAddress string
	// Region is set when the failure is the region's missing token.
	Region string
	Err    error
}

// EnvPlan is the plan for one environment.
type EnvPlan struct {
	Env string
	// Seen counts the registries listed; InScope the active ECR registries the rules select.
	Seen, InScope int
	Actions       []Action
	Skipped       []Notice
	Failures      []Failure
	// Unmatched are in-scope registries whose serverAddress has a scheme, path or trailing slash: refreshed,
	// but Rancher never matches an image to them.
	Unmatched []Notice
	// Current counts the active credentials left alone because they hold their region's current token (rule 5).
	Current int
}

// pendingStates are credential states on their way to active: a new credential beside one of them would be a
// duplicate.
var pendingStates = map[string]bool{
	"requested": true, "registering": true, "activating": true, "updating-active": true, "updating-inactive": true,
}

// Plan computes the writes for one environment from what was read (snap), what the rules make of it (c, which
// Classify(r, snap) returns) and the tokens at hand, by region. It applies the rules of the package doc, in order.
func Plan(r Rules, snap Snapshot, c Classes, tokens map[string]TokenResult) EnvPlan {
	p := EnvPlan{Env: snap.Env, Seen: len(c.regs)}
	creds := map[string][]rancher.Credential{}
	for _, cr := range dedupe(snap.Credentials, func(c rancher.Credential) string { return c.ID }) { // rule 6
		creds[cr.RegistryID] = append(creds[cr.RegistryID], cr)
	}
	for _, reg := range c.regs {
		switch reg.verdict { // rule 1
		case VerdictNotECR, VerdictOutOfScope:
			continue
		case VerdictUnparsable, VerdictNotActive:
			p.Skipped = append(p.Skipped, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress, Reason: reg.reason})
			continue
		}
		p.InScope++
		if !reg.host.Exact {
			p.Unmatched = append(p.Unmatched, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress,
				Reason: fmt.Sprintf("Rancher matches images only to a bare host; set the serverAddress to %s", reg.host.Host)})
		}
		p.registry(snap, reg, creds[reg.ID], tokens)
	}
	hosts := c.hosts()
	if r.AutoCreate {
		p.autoCreate(r, hosts, tokens) // rule 4
	}
	for _, d := range c.discoveries { // rule 7
		if hosts[d.host.Host] {
			continue // AUTO_CREATE plans it already
		}
		hosts[d.host.Host] = true
		tok, ok := tokens[d.host.Region]
		if !ok || tok.Err != nil {
			p.Failures = append(p.Failures, Failure{ServerAddress: d.host.Host, Region: d.host.Region,
				Err: fmt.Errorf("no valid ECR token for region %s to create the registry that service %s uses", d.host.Region, d.service)})
			continue
		}
		p.Actions = append(p.Actions, Action{Op: OpCreateRegistry, Env: p.Env, ServerAddress: d.host.Host, Token: tok.Token,
			TokenID: tok.ID, Service: d.service})
	}
	return p
}

// registry plans rules 2, 3 and 5 for one in-scope registry and its credentials.
func (p *EnvPlan) registry(snap Snapshot, reg classified, list []rancher.Credential, tokens map[string]TokenResult) {
	sort.SliceStable(list, func(i, j int) bool { return idLess(list[i].ID, list[j].ID) })
	var active []rancher.Credential
	pending := ""
	for _, c := range list {
		switch {
		case c.State == rancher.StateActive:
			active = append(active, c)
		case pendingStates[c.State] && pending == "":
			pending = c.ID + " is " + c.State
		}
	}
	if len(active) == 0 && pending != "" {
		p.Skipped = append(p.Skipped, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress,
			Reason: "credential " + pending + "; left for the next pass"})
		return
	}
	tok, ok := tokens[reg.host.Region]
	if !ok || tok.Err != nil { // rule 2; the token's own error is reported once, for its region
		p.Failures = append(p.Failures, Failure{RegistryID: reg.ID, ServerAddress: reg.ServerAddress, Region: reg.host.Region,
			Err: fmt.Errorf("no valid ECR token for region %s", reg.host.Region)})
		return
	}
	for _, c := range active {
		if held, ok := snap.Held[c.ID]; ok && held != (TokenID{}) && held == tok.ID { // rule 5
			p.Current++
			continue
		}
		p.Actions = append(p.Actions, Action{Op: OpUpdate, Env: snap.Env, RegistryID: reg.ID,
			ServerAddress: reg.ServerAddress, Credential: c, Token: tok.Token, TokenID: tok.ID})
	}
	if len(active) == 0 {
		p.Actions = append(p.Actions, Action{Op: OpCreateCredential, Env: snap.Env, RegistryID: reg.ID,
			ServerAddress: reg.ServerAddress, Token: tok.Token, TokenID: tok.ID})
	}
}

// autoCreate plans rule 4.
func (p *EnvPlan) autoCreate(r Rules, hosts map[string]bool, tokens map[string]TokenResult) {
	tok, ok := tokens[r.HomeRegion]
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("no token for region %s", r.HomeRegion)
	case tok.Err != nil:
		err = tok.Err
	case tok.Token.ProxyEndpoint == "":
		err = fmt.Errorf("ECR sent no proxyEndpoint in %s, so the registry host to create is unknown", r.HomeRegion)
	}
	if err != nil {
		p.Failures = append(p.Failures, Failure{ServerAddress: "(" + setting.AutoCreate.String() + " in " + r.HomeRegion + ")", Region: r.HomeRegion, Err: err})
		return
	}
	want := []ecr.Registry{tok.Token.Registry}
	if len(r.Accounts) > 0 {
		want = want[:0]
		for _, account := range r.Accounts {
			want = append(want, tok.Token.Registry.WithAccount(account))
		}
	}
	for _, reg := range want {
		if hosts[reg.Host] {
			continue
		}
		hosts[reg.Host] = true
		p.Actions = append(p.Actions, Action{Op: OpCreateRegistry, Env: p.Env, ServerAddress: reg.Host, Token: tok.Token, TokenID: tok.ID})
	}
}

// dedupe returns list without the later repeats of an id (a list whose pages overlapped), in its order.
func dedupe[T any](list []T, id func(T) string) []T {
	seen := make(map[string]bool, len(list))
	out := make([]T, 0, len(list))
	for _, v := range list {
		if k := id(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// idLess orders Cattle ids ("1sp9" < "1sp10") by length, then text.
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
