package updater

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// record is what follows every pass, straight down: the memory learns what the pass found (what it wrote, the
// problems, the tokens), the status follows from the memory, the schedule says what is due next (in Run), and
// health, metrics, log and Config.OnPass hear of it, in that order.
func (u *Updater) record(res *Result) {
	u.mem.learn(res, u.cfg.Scrubber)
	if u.cfg.Rules.Discover && res.Err == nil {
		u.inbox.learnImages(res)
	}
	res.Problems, res.Status = u.mem.problems(), u.mem.assess()
	if res.Err != nil {
		res.Status = StatusFailing
	}
	delay, why, rescheduled := u.reschedule(res)
	end := res.Start.Add(res.Duration)
	var next time.Time
	if u.sched != nil {
		next = u.nextDue()
	}
	u.health.passDone(end, res.Status, res.Problems, u.cfg.Scrubber.Scrub(res.describe(false)), next)
	u.cfg.Metrics.passDone(res)
	u.report(res)
	if rescheduled {
		kind := PassScheduled
		if !next.Equal(u.mem.due.scheduled) {
			kind = PassRetry
		}
		u.log.WithFields(logrus.Fields{"next_pass": next.UTC().Format(time.RFC3339), "in": delay.Round(time.Millisecond).String(),
			"kind": kind, "reason": why}).Info("next pass scheduled")
	}
	if u.cfg.OnPass != nil {
		u.cfg.OnPass(res)
	}
}

// report logs the pass: each region's token, one line per environment and per write, and one summary.
func (u *Updater) report(res *Result) {
	u.reportTokens(res)
	for _, e := range res.Envs {
		u.reportEnv(res, e)
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
	log := u.log.WithFields(fields)
	switch {
	case res.Err != nil:
		log.Error("pass failed: " + res.Err.Error())
	case res.Status == StatusFailing:
		log.Error("pass failed: nothing in scope could be refreshed")
	case !res.OK() || len(res.Problems) > 0:
		log.Warn("pass done; some registries cannot be refreshed (see /healthz)")
	default:
		log.Info("pass done")
	}
}

// reportTokens logs the tokens a pass fetched, and the fetches that failed.
func (u *Updater) reportTokens(res *Result) {
	for _, region := range sortedRegions(res.TokenErrors) {
		u.log.WithField("region", region).Warn("no ECR token for this region; its registries are retried: " + res.TokenErrors[region].Error())
	}
	for _, region := range sortedRegions(res.Tokens) {
		t := res.Tokens[region]
		tl := u.log.WithFields(logrus.Fields{"region": region, "expires": stamp(t.ExpiresAt),
			"lifetime": t.Lifetime().Round(time.Second).String()})
		if t.Lifetime() < ShortLifetime && !u.warnedShort[region] {
			// Once per region: a stand-in or a test issues such tokens every pass.
			u.warnedShort[region] = true
			tl.Warn(fmt.Sprintf("ECR token lives less than %s (ECR issues 12-hour tokens); passes still start at least %s apart", ShortLifetime, MinSpacing))
		} else {
			tl.Debug("ECR token received")
		}
	}
}

// reportEnv logs what a pass did in one environment.
func (u *Updater) reportEnv(res *Result, e *EnvResult) {
	el := u.log.WithField("env", e.label())
	switch {
	case e.SkipReason != "":
		el.Info("environment skipped: " + e.SkipReason)
		return
	case e.Err != nil:
		el.Error(e.Err.Error())
		return
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
		u.reportWrite(el.WithFields(logrus.Fields{"registry": w.RegistryID, "server_address": w.ServerAddress,
			"credential": w.CredentialID, "region": w.Region, "expires": stamp(w.ExpiresAt)}), w)
	}
	if res.Kind == PassScheduled && e.Plan.InScope == 0 && len(e.Plan.Actions) == 0 && len(e.Plan.Failures) == 0 {
		el.WithField("registries", e.Plan.Seen).Warn(fmt.Sprintf("no ECR registry found in this environment: add one under Infrastructure -> Registries "+
			"with the bare host <account>.dkr.ecr.<region>.amazonaws.com, or set %s=true; %s and %s narrow the scope", setting.AutoCreate, setting.RegistryIDs, setting.Regions))
	}
	el.WithFields(logrus.Fields{"registries": e.Plan.Seen, "in_scope": e.Plan.InScope, "rancher_requests": e.Requests}).Info("environment done")
}

// reportWrite logs one write.
func (u *Updater) reportWrite(wl *logrus.Entry, w Write) {
	switch w.Outcome {
	case OutcomeUpdated:
		wl.Info("credential updated")
	case OutcomeCreated:
		switch {
		case w.RegistryCreated && w.Service != "":
			wl.WithField("service", w.Service).Info("registry and credential created for the image of a service (" + setting.Discover.String() + ")")
		case w.RegistryCreated:
			wl.Info("registry and credential created (" + setting.AutoCreate.String() + ")")
		default:
			wl.Info("credential created")
		}
	case OutcomeWouldUpdate, OutcomeWouldCreate:
		wl.Info(fmt.Sprintf("dry run: would %s", w.Op))
	case OutcomeGone:
		wl.Warn("credential removed before it could be written; skipped")
	case OutcomeExists:
		wl.Info("registry exists already; " + setting.AutoCreate.String() + " leaves it")
	case OutcomeFailed:
		wl.Warn("registry not refreshed: " + w.Err.Error())
	}
}

// errorKind names what kind of error err is, without its text: the AWS error code, Rancher's HTTP status, a
// timeout, a network error. It is what /healthz shows (the log has the whole error): AWS's messages name the IAM
// principal, and Rancher's may repeat what it was sent.
func errorKind(err error) string {
	var ce *setting.Error
	var ee *ecr.Error
	var te *ecr.TokenError
	var ne net.Error
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &ce):
		return "configuration"
	case errors.As(err, &ee) && ee.Code != "":
		return ee.Code
	case errors.As(err, &te):
		return "invalid ECR token"
	case rancher.StatusOf(err) != 0:
		return "Rancher answered " + strconv.Itoa(rancher.StatusOf(err))
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "stopped"
	case errors.As(err, &ne):
		return "network error"
	}
	return "error"
}

// tokenProblem is what /healthz says of a registry (or a registry to create) without a token: the kind of the
// token's error and what it stops. A failure the plan made itself (no token error) is in the plan's own words,
// which repeat nothing AWS said.
func tokenProblem(tokenErr error, f plan.Failure) string {
	if tokenErr == nil {
		return f.Err.Error()
	}
	what := "no valid ECR token for region " + f.Region
	if f.RegistryID == "" {
		what += " to create " + f.ServerAddress
	}
	return errorKind(tokenErr) + ": " + what
}
