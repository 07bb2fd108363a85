package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/parallel"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/updater"
)

// The Rancher checks: the server, the key, the environments served, and what the key may do in each. Each
// environment is read with the pass's own read step (updater.ReadEnv).

// rancher connects, resolves the environments as a pass does, and reads each (concurrently). The error is a
// configuration error (exit 2); every other problem is a check.
func (r *run) rancher(ctx context.Context) ([]*env, error) {
	u := r.cfg.Updater
	opts := u.Rancher
	if u.Concurrency > 0 {
		opts.Concurrency = u.Concurrency
	}
	start := time.Now()
	srv, err := rancher.Dial(ctx, opts)
	if err != nil {
		c := r.check(lineReachable)
		c.Result, c.Detail, c.Fix = Fail, err.Error(), r.rancherFix(err)
		r.add(c)
		return nil, nil
	}
	defer srv.Close()
	c := r.check(lineReachable)
	c.Result, c.Detail = OK, fmt.Sprintf("%s answered in %s", srv.Endpoint(), time.Since(start).Round(time.Millisecond))
	r.add(c)
	r.kind, r.answered = srv.KeyKind(), true

	targets, err := updater.ResolveEnvironments(ctx, srv, u.Environments)
	key := r.check(lineAPIKey)
	key.Result, key.Detail = OK, keyKind(srv)+", "+r.scope(srv, u.Environments)
	var cfgErr *setting.Error
	switch {
	case errors.As(err, &cfgErr):
		key.Result = Fail
		r.add(key)
		return nil, cfgErr
	case err != nil:
		r.add(key)
		c := r.check(lineEnvironments)
		c.Result, c.Detail, c.Fix = Fail, err.Error(), r.rancherFix(err)
		r.add(c)
		return nil, nil
	}
	if len(u.Environments) > 0 {
		key.Detail += fmt.Sprintf(": %d environment(s)", len(targets))
	}
	r.add(key)

	concurrency := max(opts.Concurrency, 1)
	slots := make(chan struct{}, concurrency)
	envs := make([]*env, len(targets))
	parallel.ForEach(len(targets), concurrency, func(i int) {
		envs[i] = r.readEnv(ctx, srv, targets[i], slots)
	})
	return envs, nil
}

func keyKind(srv *rancher.Server) string {
	switch k := srv.KeyKind(); k {
	case rancher.KindProject:
		return "Environment API key"
	case rancher.KindUser:
		return "Account API key"
	case rancher.KindAdmin:
		return "Account API key of an administrator"
	case rancher.KindEnvironment, rancher.KindProjectAdmin:
		return "the key Rancher gave this container (agent labels)"
	case "":
		return "key of an unreported kind"
	default:
		return "key of kind " + k
	}
}

func (r *run) scope(srv *rancher.Server, sel []string) string {
	switch {
	case srv.Endpoint().Project != "":
		return setting.URL.String() + " names environment " + srv.Endpoint().Project
	case len(sel) > 0:
		return setting.Environments.String() + "=" + strings.Join(sel, ",")
	case srv.IsAccountKey():
		return "no environment named (" + setting.URL.String() + " without /projects/<id>, no " + setting.Environments.String() + ")"
	}
	return "the key's own environment"
}

// rancherFix says what to check for a Rancher error.
func (r *run) rancherFix(err error) string {
	switch rancher.StatusOf(err) {
	case 0:
		return "check " + setting.URL.String() + " (scheme, host, port), the network path and HTTP_PROXY/NO_PROXY, " + setting.CACert.String() + " for a private CA"
	case 401:
		return "check " + setting.AccessKey.String() + " and " + setting.SecretKey.String() + " (a key stops working when its environment or user is removed)"
	case 403, 404:
		return "check the environment id in " + setting.URL.String() + " or " + setting.Environments.String() + ", and that the key may use it"
	}
	return "check the Rancher server (its log) and " + setting.URL.String()
}

// readEnv connects to one environment without requiring write access, checks what the key may do there, and
// reads it with the pass's read step (updater.ReadEnv: its registries, credentials and services). slots bounds
// the requests in flight, as in a pass.
func (r *run) readEnv(ctx context.Context, srv *rancher.Server, t *updater.EnvResult, slots chan struct{}) *env {
	e := &env{target: t, label: t.Label()}
	add := func(l Line, res Result, detail, fix string) {
		c := e.check(r, l)
		c.Result, c.Detail, c.Fix = res, detail, fix
		e.checks = append(e.checks, c)
	}
	switch {
	case t.Err != nil:
		add(lineEnv, Fail, t.Err.Error(), "check "+setting.Environments.String()+": give ids (1a5) or unique names of environments the key can see")
		return e
	case t.SkipReason != "":
		add(lineEnv, Warn, "skipped: "+t.SkipReason, "activate the environment, or leave it out of "+setting.Environments.String())
		return e
	}
	r.log.WithField("env", e.label).Debug("doctor: reading environment")
	slots <- struct{}{}
	re, access, err := srv.Inspect(ctx, t.Key())
	<-slots
	if err != nil {
		add(lineEnv, Fail, err.Error(), r.rancherFix(err))
		return e
	}
	if t.ID == "" && re.ID() != "" {
		t.ID = re.ID()
		e.label = t.Label()
	}
	if err := access.Err(); err != nil {
		add(lineWriteAccess, Fail, err.Error()+" ("+access.String()+")", srv.WriteFix())
	} else {
		add(lineWriteAccess, OK, "the key may create registries and create and update their credentials", "")
	}
	read, err := updater.ReadEnv(ctx, srv, t.Key(), updater.ReadOptions{Timeout: r.cfg.Updater.Rancher.Timeout, Services: true,
		Slots: slots, Env: re})
	// Services apart: without them the registries can still be checked.
	e.services = read.Services
	if read.ServicesErr != nil {
		add(lineEnvReadServices, Fail, read.ServicesErr.Error()+"; the images in use are not checked", r.rancherFix(read.ServicesErr))
	} else {
		e.servicesOK = true
	}
	if err != nil {
		add(lineEnvRead, Fail, err.Error(), r.rancherFix(err))
		return e
	}
	e.regs, e.creds, e.ok = read.Registries, read.Credentials, true
	return e
}
