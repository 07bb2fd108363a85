package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// The registries of each environment, judged with the rules of a pass (plan.ClassifyRegistry, plan.Plan): an
// address Rancher can match, an active credential, and a token of its region that opens it.

// registries checks every registry of every environment read: the rules' verdict, an address Rancher can match,
// an active credential, and that its region's token opens it (one GET /v2/ per host for all environments).
func (r *run) registries(ctx context.Context, envs []*env, tokens map[string]plan.TokenResult) {
	probes := r.probe(ctx, envs, tokens)
	for _, e := range envs {
		if e.ok {
			r.envRegistries(e, tokens, probes)
		}
	}
}

// probe opens every in-scope registry host of the environments read once, with its region's token (GET /v2/),
// at most registryChecks at a time: what each host answered (nil for 200). A host whose region has no token is
// not probed.
func (r *run) probe(ctx context.Context, envs []*env, tokens map[string]plan.TokenResult) map[string]error {
	type probe struct {
		host string
		tok  ecr.Token
		err  error
	}
	var probes []*probe
	seen := map[string]bool{}
	for _, e := range envs {
		if !e.ok {
			continue
		}
		for _, reg := range e.regs {
			host, v, _ := plan.ClassifyRegistry(r.rules, reg)
			if t, ok := tokens[host.Region]; v == plan.VerdictInScope && ok && t.Err == nil && !seen[host.Host] {
				seen[host.Host] = true
				probes = append(probes, &probe{host: host.Host, tok: t.Token})
			}
		}
	}
	parallel.ForEach(len(probes), registryChecks, func(i int) {
		p := probes[i]
		p.err = r.ecr.CheckRegistry(ctx, p.host, p.tok)
		r.log.WithFields(logrus.Fields{"host": p.host, "region": p.tok.Region, "error": p.err}).Debug("doctor: GET /v2/")
	})
	out := make(map[string]error, len(probes))
	for _, p := range probes {
		out[p.host] = p.err
	}
	return out
}

// envRegistries checks the registries of one environment, in the order of their ids: the ones the next pass
// creates (the plan's), then each registry.
func (r *run) envRegistries(e *env, tokens map[string]plan.TokenResult, probes map[string]error) {
	snap := e.snapshot()
	creating := r.creates(e, plan.Plan(r.rules, snap, plan.Classify(r.rules, snap), tokens).Actions)
	regs := append([]rancher.Registry(nil), e.regs...)
	sort.SliceStable(regs, func(i, j int) bool { return idLess(regs[i].ID, regs[j].ID) })
	ecrCount := 0
	for _, reg := range regs {
		c, isECR := r.registry(e, reg, tokens, probes, creating[reg.ID])
		if c.line != 0 {
			e.checks = append(e.checks, c)
		}
		if isECR {
			ecrCount++
		}
	}
	if ecrCount == 0 && !r.rules.AutoCreate {
		c := e.check(r, lineRegistries)
		c.Result, c.Detail = Warn, fmt.Sprintf("no ECR registry among its %d registries", len(e.regs))
		c.Fix = "add the ECR registries the services pull from under Infrastructure -> Registries (bare host), or set " + setting.AutoCreate.String() + "=true"
		e.checks = append(e.checks, c)
	}
}

// creates adds a line for each registry the plan creates (AUTO_CREATE, DISCOVER_REGISTRIES) and remembers its
// host; it returns the registries whose credential the plan creates.
func (r *run) creates(e *env, actions []plan.Action) map[string]bool {
	creating := map[string]bool{}
	for _, a := range actions {
		switch a.Op {
		case plan.OpCreateCredential:
			creating[a.RegistryID] = true
		case plan.OpCreateRegistry:
			if e.autoCreate == nil {
				e.autoCreate = map[string]bool{}
			}
			e.autoCreate[a.ServerAddress] = true
			c := e.check(r, lineAutoCreate)
			c.Detail = "the next pass creates the registry " + a.ServerAddress + " and its credential"
			if a.Service != "" {
				c = e.check(r, lineDiscover)
				c.Detail = "the next pass creates the registry " + a.ServerAddress + " and its credential, for the image of service " + a.Service
			}
			c.Result, c.Host, c.Region = OK, a.ServerAddress, a.Token.Region
			e.checks = append(e.checks, c)
		}
	}
	return creating
}

// registry judges one registry with the rules' verdict. A registry that is not ECR has no line (c.line is 0);
// isECR says whether it counts as an ECR registry of the environment.
func (r *run) registry(e *env, reg rancher.Registry, tokens map[string]plan.TokenResult, probes map[string]error,
	creating bool) (c Check, isECR bool) {
	host, v, reason := plan.ClassifyRegistry(r.rules, reg)
	c = e.check(r, lineRegistry, reg.ID)
	c.Registry, c.Host, c.Region = reg.ID, host.Host, host.Region
	c.group, c.item, c.foldAs, c.foldLine = "ECR registries", reg.ID, e.check(r, lineRegistries).Check, lineRegistries
	switch v {
	case plan.VerdictNotECR:
		return Check{}, false
	case plan.VerdictOutOfScope:
		c.Result, c.Detail = OK, reg.ServerAddress+": left alone: "+reason
	case plan.VerdictUnparsable:
		c.Result, c.Detail, c.Fix = Warn, reg.ServerAddress+": "+reason, "set the address to the bare ECR host <12-digit account>.dkr.ecr.<region>.amazonaws.com, or remove the registry"
		return c, false
	case plan.VerdictNotActive:
		c.Result, c.Detail, c.Fix = Warn, reg.ServerAddress+": skipped: "+reason+"; Rancher uses only active registries", "activate the registry, or remove it"
	case plan.VerdictInScope:
		probeErr, probed := probes[host.Host]
		if !probed {
			probeErr = errors.New("not checked")
		}
		c = r.inScope(c, reg, host, tokens, probeErr, creating)
	}
	return c, true
}

// inScope judges one in-scope registry: probeErr is what GET /v2/ with its region's token gave.
func (r *run) inScope(c Check, reg rancher.Registry, host ecr.Registry, tokens map[string]plan.TokenResult,
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
			" (a registry or repository policy there, or " + setting.RoleARN.String() + " of a role in that account)"
	}
	if errors.As(err, &re) && re.Status == 403 {
		return "grant ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repositories of " + host.Host
	}
	return "check the network path from here to " + host.Host + " (DNS, proxy, NO_PROXY, VPC endpoint)"
}
