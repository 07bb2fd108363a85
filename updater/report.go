package updater

import (
	"fmt"

	"time"

	"github.com/sirupsen/logrus"
)

// tally counts what the pass did, over every environment.
func (r *Result) tally() {
	r.Seen, r.InScope, r.Updated, r.Created, r.RegistriesCreated, r.Skipped = 0, 0, 0, 0, 0, 0
	r.FailedEnvs, r.FailedRegistries, r.EnvsSkipped = 0, 0, 0
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

// firstError is a one-line account of what went wrong, for /healthz.
func (r *Result) firstError() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	if regions := sortedRegions(r.TokenErrors); len(regions) > 0 {
		return fmt.Sprintf("%d failures; first: %v", r.Failures(), r.TokenErrors[regions[0]])
	}
	for _, e := range r.Envs {
		if e.Err != nil {
			return fmt.Sprintf("%d failures; first: %v", r.Failures(), e.Err)
		}
		if len(e.Plan.Failures) > 0 {
			f := e.Plan.Failures[0]
			return fmt.Sprintf("%d failures; first: registry %s in %s: %v", r.Failures(), f.ServerAddress, e.label(), f.Err)
		}
		for _, w := range e.Writes {
			if w.Outcome == OutcomeFailed {
				return fmt.Sprintf("%d failures; first: %v", r.Failures(), w.Err)
			}
		}
	}
	return ""
}

// report logs the pass (one line per write, one summary), records metrics and health, and calls OnPass.
func (u *Updater) report(res *Result) {
	res.tally()
	log := u.log
	for _, region := range sortedRegions(res.TokenErrors) {
		log.WithField("region", region).Warn("no ECR token for this region; its registries are retried: " + res.TokenErrors[region].Error())
	}
	for _, region := range sortedRegions(res.Tokens) {
		t := res.Tokens[region]
		tl := log.WithFields(logrus.Fields{"region": region, "expires": stamp(t.ExpiresAt),
			"lifetime": t.Lifetime().Round(time.Second).String()})
		if t.Lifetime() < ShortLifetime && !u.warnedShort[region] {
			// Once per region: a stand-in or a test issues such tokens every pass.
			u.warnedShort[region] = true
			tl.Warn(fmt.Sprintf("ECR token lives less than %s (ECR issues 12-hour tokens); passes still start at least %s apart", ShortLifetime, MinSpacing))
		} else {
			tl.Debug("ECR token received")
		}
	}
	for _, e := range res.Envs {
		el := log.WithField("env", e.label())
		switch {
		case e.SkipReason != "":
			el.Info("environment skipped: " + e.SkipReason)
			continue
		case e.Err != nil:
			el.Error(e.Err.Error())
			continue
		}
		if e.DiscoverErr != nil {
			el.Warn("services not read, so no registry discovered this pass: " + e.DiscoverErr.Error())
		}
		for _, s := range e.Plan.Skipped {
			el.WithFields(logrus.Fields{"registry": s.RegistryID, "server_address": s.ServerAddress}).Warn("registry skipped: " + s.Reason)
		}
		for _, s := range e.Plan.Unmatched {
			el.WithFields(logrus.Fields{"registry": s.RegistryID, "server_address": s.ServerAddress}).Warn("registry refreshed, but " + s.Reason)
		}
		for _, f := range e.Plan.Failures {
			el.WithFields(logrus.Fields{"registry": f.RegistryID, "server_address": f.ServerAddress}).Warn("registry not refreshed: " + f.Err.Error())
		}
		for _, w := range e.Writes {
			wl := el.WithFields(logrus.Fields{"registry": w.RegistryID, "server_address": w.ServerAddress,
				"credential": w.CredentialID, "region": w.Region, "expires": stamp(w.ExpiresAt)})
			switch w.Outcome {
			case OutcomeUpdated:
				wl.Info("credential updated")
			case OutcomeCreated:
				if w.RegistryCreated && w.Service != "" {
					wl.WithField("service", w.Service).Info("registry and credential created for the image of a service (" + u.cfg.Names.Discover + ")")
				} else if w.RegistryCreated {
					wl.Info("registry and credential created (" + u.cfg.Names.AutoCreate + ")")
				} else {
					wl.Info("credential created")
				}
			case OutcomeWouldUpdate, OutcomeWouldCreate:
				wl.Info(fmt.Sprintf("dry run: would %s", w.Op))
			case OutcomeGone:
				wl.Warn("credential removed before it could be written; skipped")
			case OutcomeExists:
				wl.Info("registry exists already; " + u.cfg.Names.AutoCreate + " leaves it")
			case OutcomeFailed:
				wl.Warn("registry not refreshed: " + w.Err.Error())
			}
		}
		if res.Full && e.Plan.InScope == 0 && len(e.Plan.Actions) == 0 && len(e.Plan.Failures) == 0 {
			el.WithField("registries", e.Plan.Seen).Warn("no ECR registry found in this environment: add one under Infrastructure -> Registries " +
				"with the bare host <account>.dkr.ecr.<region>.amazonaws.com, or set " + u.cfg.Names.AutoCreate + "=true; " + u.cfg.Names.RegistryIDs + " and " + u.cfg.Names.Regions + " narrow the scope")
		}
		el.WithFields(logrus.Fields{"registries": e.Plan.Seen, "in_scope": e.Plan.InScope, "rancher_requests": e.Requests}).Info("environment done")
	}
	fields := logrus.Fields{
		"environments": len(res.Envs), "seen": res.Seen, "in_scope": res.InScope, "updated": res.Updated,
		"created": res.Created, "skipped": res.Skipped, "failed": res.Failures(),
		"duration": res.Duration.Round(time.Millisecond).String(), "rancher_requests": res.RancherRequests,
		"ecr_calls": res.ECRCalls, "kind": res.Kind,
	}
	if len(res.Problems) > 0 {
		fields["problems"] = len(res.Problems)
	}
	if res.DryRun {
		fields["dry_run"] = true
	}
	switch {
	case res.Err != nil:
		log.WithFields(fields).Error("pass failed: " + res.Err.Error())
	case res.Status == StatusFailing:
		log.WithFields(fields).Error("pass failed: nothing in scope could be refreshed")
	case !res.OK() || len(res.Problems) > 0:
		log.WithFields(fields).Warn("pass done; some registries cannot be refreshed (see /healthz)")
	default:
		log.WithFields(fields).Info("pass done")
	}
	u.cfg.Metrics.passDone(res)
	if u.cfg.OnPass != nil {
		u.cfg.OnPass(res)
	}
}
