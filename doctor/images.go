package doctor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/plan"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// The images of each environment's services (launchConfig and secondaryLaunchConfigs): every ECR image needs a
// registry Rancher uses for it (plan.RegistryFor).

// use is an ECR image host of an environment, and the services whose images are on it.
type use struct {
	host     string
	img      ecr.Image
	services []string
}

// images checks that every ECR image the environment's services use has a registry Rancher uses for it
// (plan.RegistryFor: an active registry whose serverAddress is the image's host, compared exactly, case aside).
func (r *run) images(e *env) {
	if !e.ok || !e.servicesOK {
		return
	}
	uses := r.imageHosts(e)
	for _, u := range uses {
		e.checks = append(e.checks, r.imageHost(e, u))
	}
	if len(e.services) > 0 && len(uses) == 0 {
		c := e.check(r, lineServices)
		c.Result, c.Detail = OK, fmt.Sprintf("%d services, none uses an ECR image", len(e.services))
		e.checks = append(e.checks, c)
	}
}

// imageHosts are the ECR image hosts of the environment's services, in order; an image that cannot be parsed, or
// whose host looks like ECR but is not, is a warning of its own.
func (r *run) imageHosts(e *env) []*use {
	uses := map[string]*use{}
	var hosts []string
	for _, s := range e.services {
		for _, si := range s.Images {
			who := serviceName(s, si)
			img, err := ecr.ParseImage(si.ImageUUID)
			if err == nil && img.NotECR != nil {
				err = fmt.Errorf("its image host %s looks like ECR but is not one: %w", img.Host, img.NotECR)
			}
			if err != nil {
				e.checks = append(e.checks, r.badImage(e, who, err, img.NotECR != nil))
				continue
			}
			if img.ECR == nil {
				continue
			}
			u := uses[img.Host]
			if u == nil {
				u = &use{host: img.Host, img: img}
				uses[img.Host] = u
				hosts = append(hosts, img.Host)
			}
			if len(u.services) == 0 || u.services[len(u.services)-1] != who {
				u.services = append(u.services, who)
			}
		}
	}
	sort.Strings(hosts)
	out := make([]*use, len(hosts))
	for i, h := range hosts {
		out[i] = uses[h]
	}
	return out
}

// badImage is the warning of a service whose image cannot be parsed, or (notECR) whose host looks like ECR but is
// not.
func (r *run) badImage(e *env, who string, err error, notECR bool) Check {
	c := e.check(r, lineService, who)
	c.Result, c.Detail, c.Fix, c.Services = Warn, err.Error(), "fix the image of the service", []string{who}
	if notECR {
		c.Fix = "fix the image name: <12-digit account>.dkr.ecr.<region>.amazonaws.com/<repository>"
	}
	return c
}

// imageHost judges one ECR image host: the registry Rancher uses for it, or why there is none.
func (r *run) imageHost(e *env, u *use) Check {
	h := u.host
	c := e.check(r, lineImages)
	c.Host, c.Region, c.Services = h, u.img.ECR.Region, u.services
	c.group, c.item, c.foldAs, c.foldLine = "ECR image hosts, each with its registry", h, c.Check, lineImages
	used := "used by " + names(u.services)
	exact, inactive, near := match(u.img, e.regs)
	switch {
	case exact != nil:
		c.Registry = exact.ID
		c.Result, c.Detail = OK, fmt.Sprintf("registry %s serves it; %s", exact.ID, used)
		if _, v, reason := plan.ClassifyRegistry(r.rules, *exact); v == plan.VerdictOutOfScope {
			c.Result, c.Detail = Warn, fmt.Sprintf("registry %s serves it, but this updater leaves it alone (%s); %s", exact.ID, reason, used)
			c.Fix = "add its account to " + setting.RegistryIDs.String() + " and its region to " + setting.Regions.String() + ", or let another updater refresh it"
		}
	case inactive != nil:
		c.Result, c.Detail = Fail, fmt.Sprintf("registry %s is %s, and Rancher uses only active registries: pulls go without credentials; %s", inactive.ID, inactive.State, used)
		c.Fix, c.Registry = "activate registry "+inactive.ID, inactive.ID
	case near != nil:
		c.Result, c.Detail = Fail, fmt.Sprintf("no registry Rancher matches: registry %s has the address %q, which Rancher never matches to %s; %s", near.ID, near.ServerAddress, h, used)
		c.Fix, c.Registry = "recreate registry "+near.ID+" with the bare host "+h, near.ID
	case e.autoCreate[h]:
		c.Result, c.Detail = Warn, "no registry for this host yet, but the next pass creates it ("+setting.AutoCreate.String()+" or "+setting.Discover.String()+"); "+used
		c.Fix = "none needed, or run a pass now (ecr-updater once) so that pulls do not fail until then"
	default:
		c.Result, c.Detail, c.Fix = Fail, "no registry for this host in the environment: pulls go without credentials and fail; "+used+
			otherRegion(u.img, e.regs), r.addRegistryFix(u.img)
	}
	c.Detail = h + ": " + c.Detail
	return c
}

// otherRegion points out a registry of the image's account in another region, when the environment has one: a
// registry, and its token, serve one region only.
func otherRegion(img ecr.Image, regs []rancher.Registry) string {
	for _, reg := range regs {
		if other, err := ecr.ParseServerAddress(reg.ServerAddress); err == nil && other.Exact && other.Account == img.ECR.Account &&
			other.Region != img.ECR.Region {
			return fmt.Sprintf(" (registry %s is of the same account in %s: a registry, and its token, serve one region only)", reg.ID, other.Region)
		}
	}
	return ""
}

// addRegistryFix says to add the registry of an image's host, and to put it in scope when it is not.
func (r *run) addRegistryFix(img ecr.Image) string {
	fix := "add the registry " + img.Host + " under Infrastructure -> Registries (user AWS; the updater sets the password)"
	if !r.rules.AccountInScope(img.ECR.Account) || !r.rules.RegionInScope(img.ECR.Region) {
		fix += ", and put its account and region in " + setting.RegistryIDs.String() + " / " + setting.Regions.String()
	}
	return fix
}

// match finds the registry Rancher uses for an image (plan.RegistryFor) and, when there is none, a registry of the
// image's host that is not active, or one of that host spelled so that Rancher never matches it.
func match(img ecr.Image, regs []rancher.Registry) (exact, inactive, near *rancher.Registry) {
	if reg, ok := plan.RegistryFor(img.Ref, regs); ok {
		return &reg, nil, nil
	}
	for i := range regs {
		reg := &regs[i]
		if strings.EqualFold(reg.ServerAddress, img.Host) {
			if inactive == nil {
				inactive = reg
			}
		} else if n, err := ecr.NormaliseHost(reg.ServerAddress); err == nil && n == img.ECR.Host && near == nil {
			near = reg
		}
	}
	return nil, inactive, near
}

func serviceName(s rancher.Service, si rancher.ServiceImage) string {
	name := s.Name + " (" + s.ID + ")"
	if si.Container != "" {
		name += " sidekick " + si.Container
	}
	return name
}
