package updater

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
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
	// Names name the settings in reasons (Config.WithNames sets them; empty ones read as neutral words).
	Names setting.Names
}

func (r Rules) accountInScope(account string) bool {
	return len(r.Accounts) == 0 || slices.Contains(r.Accounts, account)
}
func (r Rules) regionInScope(region string) bool {
	return len(r.Regions) == 0 || slices.Contains(r.Regions, region)
}

// Snapshot is what a pass read of one environment, and what it knows already.
type Snapshot struct {
	Env         string
	Registries  []rancher.Registry
	Credentials []rancher.Credential
	// Fresh are the ids of credentials that hold a fresh password already (written earlier in this cycle): a
	// retry or a small pass leaves them alone. Empty in a scheduled pass, which writes every credential.
	Fresh map[string]bool
	// Only, when not nil, narrows the writes to these registries (by id): a small pass triggered by changes to
	// them. AUTO_CREATE, discovery and registries without an active credential are planned as usual.
	Only map[string]bool
	// Services are the environment's services, read when Rules.Discover is on.
	Services []rancher.Service

	classes     []classified // set by Classify
	discoveries []discovery  // set by Classify
	rules       *Rules       // the rules classes were made with
}

// TokenResult is the outcome of fetching one region's token.
type TokenResult struct {
	Token ecr.Token
	Err   error
}

// Op is what an action does.
type Op string

const (
	// OpUpdate writes the region's password into an existing active credential.
	OpUpdate Op = "update"
	// OpCreateCredential adds a credential to an in-scope registry that has no active one.
	OpCreateCredential Op = "create credential"
	// OpCreateRegistry adds a registry (AUTO_CREATE) and then its credential.
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
	// Fresh counts the active credentials left alone because they hold a fresh password already.
	Fresh int
}

// Verdict is what the rules make of one registry.
type Verdict string

const (
	VerdictNotECR     Verdict = "not ECR"      // another registry: untouched
	VerdictOutOfScope Verdict = "out of scope" // an ECR registry AWS_ECR_REGISTRY_IDS or ECR_REGIONS exclude: untouched
	VerdictUnparsable Verdict = "unparsable"   // skipped with a warning
	VerdictNotActive  Verdict = "not active"   // an ECR registry in scope but not active: skipped
	VerdictInScope    Verdict = "in scope"     // refreshed
)

// classify applies rule 1 (scope) to one registry.
func classify(r Rules, reg rancher.Registry) (ecr.Registry, Verdict, string) {
	host, err := ecr.ParseServerAddress(reg.ServerAddress)
	switch {
	case err != nil && reg.State != rancher.StateActive:
		return host, VerdictNotECR, ""
	case errors.Is(err, ecr.ErrNotECR):
		return host, VerdictNotECR, ""
	case err != nil:
		return host, VerdictUnparsable, err.Error()
	case !r.accountInScope(host.Account):
		return host, VerdictOutOfScope, "account " + host.Account + " is not in " + r.Names.Filled().RegistryIDs
	case !r.regionInScope(host.Region):
		return host, VerdictOutOfScope, "region " + host.Region + " is not in " + r.Names.Filled().Regions
	case reg.State != rancher.StateActive:
		return host, VerdictNotActive, "registry is " + reg.State
	}
	return host, VerdictInScope, ""
}

// classified is a registry with what the rules make of it: the registries of a snapshot, once each, without
// repeats, in id order.
type classified struct {
	rancher.Registry
	host    ecr.Registry // Host is "" when the address is not an ECR host
	verdict Verdict
	reason  string
}

// Classify applies rule 1 to every registry of the snapshot, once: Regions and Plan then use the result. Plan and
// Regions classify by themselves a snapshot that was not classified, so calling it only saves work.
func (s *Snapshot) Classify(r Rules) {
	regs := dedupe(s.Registries, func(r rancher.Registry) string { return r.ID })
	sort.SliceStable(regs, func(i, j int) bool { return idLess(regs[i].ID, regs[j].ID) })
	s.classes = make([]classified, len(regs))
	hosts := map[string]bool{}
	for i, reg := range regs {
		host, v, reason := classify(r, reg)
		s.classes[i] = classified{Registry: reg, host: host, verdict: v, reason: reason}
		if host.Host != "" {
			hosts[host.Host] = true
		}
	}
	s.discoveries = nil
	if r.Discover {
		s.discoveries = discover(r, s.Services, hosts)
	}
	s.rules = &r
}

// discovery is an in-scope ECR registry that a service's image uses and the environment has no registry for.
type discovery struct {
	host    ecr.Registry
	service string // the first service that uses it: "web (1s3)"
}

// discover lists, once each and in the order of the services, the in-scope ECR registries the images of the
// services use that no registry of the environment has (hosts: the ECR hosts of every registry listed, any
// state). Images of other registries, and services on their way out, are left alone.
func discover(r Rules, services []rancher.Service, hosts map[string]bool) []discovery {
	var out []discovery
	seen := map[string]bool{}
	for _, svc := range services {
		if svc.State == "removing" || svc.State == "removed" || svc.State == "purging" || svc.State == "purged" {
			continue
		}
		for _, img := range svc.Images {
			ref, err := ecr.ParseImage(img.ImageUUID)
			if err != nil || ref.ECR == nil {
				continue
			}
			host := *ref.ECR
			if hosts[host.Host] || seen[host.Host] || !r.accountInScope(host.Account) || !r.regionInScope(host.Region) {
				continue
			}
			seen[host.Host] = true
			host.Exact = true
			out = append(out, discovery{host: host, service: svc.Name + " (" + svc.ID + ")"})
		}
	}
	return out
}

// classified returns the classification of the snapshot's registries under r.
func (s Snapshot) classified(r Rules) []classified {
	if s.rules == nil || !reflect.DeepEqual(*s.rules, r) {
		s.Classify(r)
	}
	return s.classes
}

// discovered returns the registries to create for the services' images under r.
func (s Snapshot) discovered(r Rules) []discovery {
	if s.rules == nil || !reflect.DeepEqual(*s.rules, r) {
		s.Classify(r)
	}
	return s.discoveries
}

// Regions lists, sorted, the regions whose tokens a pass needs: those of every in-scope registry, and
// HomeRegion when AUTO_CREATE is on.
func Regions(r Rules, snaps []Snapshot) []string {
	set := map[string]bool{}
	if r.AutoCreate && r.HomeRegion != "" {
		set[r.HomeRegion] = true
	}
	for _, s := range snaps {
		for _, c := range s.classified(r) {
			if c.verdict == VerdictInScope {
				set[c.host.Region] = true
			}
		}
		if r.Discover {
			for _, d := range s.discovered(r) {
				set[d.host.Region] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// pendingStates are credential states on their way to active: a new credential beside one of them would be a
// duplicate.
var pendingStates = map[string]bool{
	"requested": true, "registering": true, "activating": true, "updating-active": true, "updating-inactive": true,
}

// Plan computes the writes for one environment from what was read and the tokens at hand. It is a pure
// function; every rule of a pass lives here.
//
//  1. Scope: active registries whose normalised serverAddress is an ECR host, of the accounts and regions the
//     rules allow. Unparsable addresses are skipped with a reason; other registries are untouched.
//  2. A registry whose region has no valid token is a failure; nothing is written to it.
//  3. Every active credential of an in-scope registry is updated; a registry without an active credential gets
//     one created, unless one is on its way to active. Removed, removing and inactive credentials are untouched.
//  4. AUTO_CREATE: the registry of the caller's own account in HomeRegion (or of each account in Accounts) is
//     created when no registry of the environment has that host.
//  5. A credential in snap.Fresh is not written again, nor is one outside snap.Only.
//  6. A registry or credential listed twice (overlapping pages) counts once: never two writes for one
//     credential, never two creates for one registry.
//  7. DISCOVER_REGISTRIES: every in-scope ECR registry a service's image uses (launchConfig and sidekicks) that
//     no registry of the environment has is created with its credential, like AUTO_CREATE.
func Plan(r Rules, snap Snapshot, tokens map[string]TokenResult) EnvPlan {
	regs := snap.classified(r)
	p := EnvPlan{Env: snap.Env, Seen: len(regs)}

	creds := map[string][]rancher.Credential{}
	for _, c := range dedupe(snap.Credentials, func(c rancher.Credential) string { return c.ID }) {
		creds[c.RegistryID] = append(creds[c.RegistryID], c)
	}

	hosts := map[string]bool{} // ECR hosts of every listed registry, for AUTO_CREATE
	for _, reg := range regs {
		if reg.host.Host != "" {
			hosts[reg.host.Host] = true
		}
		host := reg.host
		switch reg.verdict {
		case VerdictNotECR, VerdictOutOfScope:
			continue
		case VerdictUnparsable, VerdictNotActive:
			p.Skipped = append(p.Skipped, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress, Reason: reg.reason})
			continue
		}
		p.InScope++
		if !host.Exact {
			p.Unmatched = append(p.Unmatched, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress,
				Reason: fmt.Sprintf("Rancher matches images only to a bare host; set the serverAddress to %s", host.Host)})
		}
		list := creds[reg.ID]
		sort.SliceStable(list, func(i, j int) bool { return idLess(list[i].ID, list[j].ID) })
		var due []rancher.Credential
		active, pending := 0, ""
		for _, c := range list {
			switch {
			case c.State == rancher.StateActive:
				active++
				if snap.Fresh[c.ID] || (snap.Only != nil && !snap.Only[reg.ID]) {
					p.Fresh++
				} else {
					due = append(due, c)
				}
			case pendingStates[c.State] && pending == "":
				pending = c.ID + " is " + c.State
			}
		}
		if active > 0 && len(due) == 0 {
			continue // nothing to write, so no token needed
		}
		if active == 0 && pending != "" {
			p.Skipped = append(p.Skipped, Notice{RegistryID: reg.ID, ServerAddress: reg.ServerAddress,
				Reason: "credential " + pending + "; left for the next pass"})
			continue
		}
		tok, ok := tokens[host.Region]
		if !ok || tok.Err != nil {
			// The token's own error is reported once, for its region.
			p.Failures = append(p.Failures, Failure{RegistryID: reg.ID, ServerAddress: reg.ServerAddress, Region: host.Region,
				Err: fmt.Errorf("no valid ECR token for region %s", host.Region)})
			continue
		}
		for _, c := range due {
			p.Actions = append(p.Actions, Action{Op: OpUpdate, Env: snap.Env, RegistryID: reg.ID,
				ServerAddress: reg.ServerAddress, Credential: c, Token: tok.Token})
		}
		if active == 0 {
			p.Actions = append(p.Actions, Action{Op: OpCreateCredential, Env: snap.Env, RegistryID: reg.ID,
				ServerAddress: reg.ServerAddress, Token: tok.Token})
		}
	}

	if r.AutoCreate {
		p.autoCreate(r, hosts, tokens)
	}
	for _, d := range snap.discovered(r) {
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
		p.Actions = append(p.Actions, Action{Op: OpCreateRegistry, Env: p.Env, ServerAddress: d.host.Host, Token: tok.Token, Service: d.service})
	}
	return p
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
		p.Failures = append(p.Failures, Failure{ServerAddress: "(" + r.Names.Filled().AutoCreate + " in " + r.HomeRegion + ")", Region: r.HomeRegion, Err: err})
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
		p.Actions = append(p.Actions, Action{Op: OpCreateRegistry, Env: p.Env, ServerAddress: reg.Host, Token: tok.Token})
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
