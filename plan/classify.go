package plan

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/internal/setting"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// Verdict is what rule 1 makes of one registry.
type Verdict string

const (
	VerdictNotECR     Verdict = "not ECR"      // another registry: untouched
	VerdictOutOfScope Verdict = "out of scope" // an ECR registry AWS_ECR_REGISTRY_IDS or ECR_REGIONS exclude: untouched
	VerdictUnparsable Verdict = "unparsable"   // skipped with a warning
	VerdictNotActive  Verdict = "not active"   // an ECR registry in scope but not active: skipped
	VerdictInScope    Verdict = "in scope"     // refreshed
)

// ClassifyRegistry applies rule 1 (scope) to one registry: its parsed ECR host (Host is "" when the address is not
// an ECR host), the verdict, and the reason for any verdict but in scope and not ECR.
func ClassifyRegistry(r Rules, reg rancher.Registry) (ecr.Registry, Verdict, string) {
	host, err := ecr.ParseServerAddress(reg.ServerAddress)
	switch {
	case err != nil && reg.State != rancher.StateActive:
		return host, VerdictNotECR, ""
	case errors.Is(err, ecr.ErrNotECR):
		return host, VerdictNotECR, ""
	case err != nil:
		return host, VerdictUnparsable, err.Error()
	case !r.AccountInScope(host.Account):
		return host, VerdictOutOfScope, "account " + host.Account + " is not in " + setting.RegistryIDs.String()
	case !r.RegionInScope(host.Region):
		return host, VerdictOutOfScope, "region " + host.Region + " is not in " + setting.Regions.String()
	case reg.State != rancher.StateActive:
		return host, VerdictNotActive, "registry is " + reg.State
	}
	return host, VerdictInScope, ""
}

// Classes is what rules 1, 6 and 7 make of one snapshot: its registries once each, in id order, with their
// verdicts, and the registries its services' images need. Classify computes it once; Regions and Plan take it.
type Classes struct {
	regs        []classified
	discoveries []discovery
}

type classified struct {
	rancher.Registry
	host    ecr.Registry // Host is "" when the address is not an ECR host
	verdict Verdict
	reason  string
}

// discovery is an in-scope ECR registry that a service's image uses and Rancher finds no registry for.
type discovery struct {
	host    ecr.Registry
	service string // the first service that uses it: "web (1s3)"
}

// Classify applies rule 1 to every registry of the snapshot (each once, rule 6) and, with Rules.Discover, rule 7 to
// its services.
func Classify(r Rules, s Snapshot) Classes {
	regs := dedupe(s.Registries, func(r rancher.Registry) string { return r.ID })
	sort.SliceStable(regs, func(i, j int) bool { return idLess(regs[i].ID, regs[j].ID) })
	var c Classes
	c.regs = make([]classified, len(regs))
	for i, reg := range regs {
		host, v, reason := ClassifyRegistry(r, reg)
		c.regs[i] = classified{Registry: reg, host: host, verdict: v, reason: reason}
	}
	if r.Discover {
		c.discoveries = discover(r, s.Services, regs, c.hosts())
	}
	return c
}

// hosts returns the ECR hosts of every registry listed, in any state and spelling.
func (c Classes) hosts() map[string]bool {
	hosts := make(map[string]bool, len(c.regs))
	for _, reg := range c.regs {
		if reg.host.Host != "" {
			hosts[reg.host.Host] = true
		}
	}
	return hosts
}

// discover applies rule 7: once each and in the order of the services, the in-scope ECR registries the images of
// the services use for which Rancher finds no registry (RegistryFor) and no registry of the environment has the host
// in another state or spelling (hosts: the normalised ECR hosts of every registry listed). Images of other
// registries, and services on their way out, are left alone.
func discover(r Rules, services []rancher.Service, regs []rancher.Registry, hosts map[string]bool) []discovery {
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
			if _, ok := RegistryFor(img.ImageUUID, regs); ok || hosts[host.Host] || seen[host.Host] ||
				!r.AccountInScope(host.Account) || !r.RegionInScope(host.Region) {
				continue
			}
			seen[host.Host] = true
			host.Exact = true
			out = append(out, discovery{host: host, service: svc.Name + " (" + svc.ID + ")"})
		}
	}
	return out
}

// RegistryFor says which registry Rancher 1.6 uses for the credentials of a pull of image (an imageUuid
// "docker:<image>", or the image as written in a compose file), as Cattle's DockerImageCredentialLookup does:
//
//   - the image's registry part is the text before its first "/" when that text has a "." or a ":" or is
//     "localhost"; an image without one (a Docker Hub image) has none here, and RegistryFor returns false;
//   - the registry is an active one whose serverAddress equals that part, case aside, exactly: a serverAddress with
//     a scheme, a path or a trailing slash never matches (the pull then goes without credentials); the first such
//     registry by id when there are several;
//   - Rancher then takes that registry's first active credential by id (the one the updater writes like all others).
//
// It returns false when Rancher uses no registry for the image.
func RegistryFor(image string, regs []rancher.Registry) (rancher.Registry, bool) {
	ref, err := ecr.ParseImage(image)
	if err != nil || !namesRegistry(ref) {
		return rancher.Registry{}, false
	}
	var found *rancher.Registry
	for i := range regs {
		reg := &regs[i]
		if reg.State == rancher.StateActive && strings.EqualFold(reg.ServerAddress, ref.Host) && (found == nil || idLess(reg.ID, found.ID)) {
			found = reg
		}
	}
	if found == nil {
		return rancher.Registry{}, false
	}
	return *found, true
}

// namesRegistry reports whether the image names its registry (rather than being a Docker Hub image by default).
func namesRegistry(ref ecr.Image) bool {
	s := strings.TrimPrefix(ref.Ref, "docker:")
	first, _, ok := strings.Cut(s, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// Regions lists, sorted, the regions whose tokens a pass needs: those of every in-scope registry and of every
// registry to discover, and HomeRegion when AUTO_CREATE is on.
func Regions(r Rules, envs []Classes) []string {
	set := map[string]bool{}
	if r.AutoCreate && r.HomeRegion != "" {
		set[r.HomeRegion] = true
	}
	for _, c := range envs {
		for _, reg := range c.regs {
			if reg.verdict == VerdictInScope {
				set[reg.host.Region] = true
			}
		}
		for _, d := range c.discoveries {
			set[d.host.Region] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
