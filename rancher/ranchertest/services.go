package ranchertest

import (
	"fmt"
	"strconv"
)

// Services, as Cattle serves them in v2-beta: /v2-beta/projects/<id>/services (and /v2-beta/services for an
// Environment API key, or read-only across its environments for an Account API key), ids 1s<N>, one stack id
// (1st<N>) per environment, the fields of Cattle's "service" schema that say what a service runs: launchConfig
// (a "launchConfig" object whose imageUuid is "docker:<image>") and secondaryLaunchConfigs (its sidekicks: a
// "secondaryLaunchConfig" each, with name and imageUuid), stackId, scale, state. As in Cattle, one collection
// holds every kind of service: an item's type is its kind ("service", "loadBalancerService", ...), its baseType
// "service". A service without an image (an
// external or DNS service) has "launchConfig":null.
//
// The stand-in serves services for reading only: the schema offers GET on the collection and the resource,
// whatever the key, and writes answer 405. Stacks are named by stackId but not served.

// serviceStates are the states Cattle's service schema lists.
var serviceStates = []string{"requested", "registering", "inactive", "activating", "active", "upgrading", "upgraded",
	"rolling-back", "canceling-upgrade", "canceled-upgrade", "finishing-upgrade", "restarting", "updating-active",
	"updating-inactive", "deactivating", "removing", "removed", "purging", "purged"}

var serviceFilters = []string{"accountId", "created", "description", "id", "kind", "name", "removeTime", "removed",
	"stackId", "state", "uuid"}

var serviceColl = &collDef{kind: kService, resourceType: "service", filters: serviceFilters}

var serviceSchema = func() *schemaDef {
	d := &schemaDef{id: "service", plural: "services", collPath: "services", resMethods: true, collMethods: true,
		fields: withCommon("accountId:reference[account]", "assignServiceIpAddress:boolean:c", "createIndex:int::n",
			"currentScale:int::n", "description:string:cun", "externalId:string:c", "fqdn:string::n",
			"healthState:string::n", "instanceIds:array[reference[instance]]::n", "launchConfig:launchConfig:cun",
			"lbConfig:lbTargetConfig:cun", "linkedServices:map[reference[service]]::n", "metadata:map[json]:cun",
			"name:string:cur", "publicEndpoints:array[publicEndpoint]::n", "retainIp:boolean:cun", "scale:int:cun",
			"scalePolicy:scalePolicy:cun", "secondaryLaunchConfigs:array[secondaryLaunchConfig]:cun",
			"selectorContainer:string:cun", "selectorLink:string:cun", "stackId:reference[stack]:cr",
			"startOnCreate:boolean:c", "system:boolean:c", "upgrade:serviceUpgrade::n", "vip:string:c"),
		filters: serviceFilters}
	for i := range d.fields {
		if d.fields[i].name == "state" {
			d.fields[i].options = serviceStates
		}
	}
	return d
}()

// service is what a stored service runs.
type service struct {
	kind      string // "service", "loadBalancerService", "externalService", "dnsService"
	stackID   string
	image     string // launchConfig.imageUuid without "docker:"; "" for no launchConfig
	sidekicks []sidekick
	scale     int64
}

type sidekick struct{ name, image string }

// Service is a stored service, as the test sees it.
type Service struct {
	ID, EnvID, Name, State, StackID string
	// Kind is the service's type: "service" unless SetServiceKind changed it.
	Kind string
	// Image is the launchConfig's image, without the "docker:" of its imageUuid; "" when it has no launchConfig.
	Image string
	// Sidekicks are the images of the secondaryLaunchConfigs, in order; SidekickNames their names.
	Sidekicks, SidekickNames []string
}

// AddService adds an active service to an environment and returns its id ("1s1", ...). image is the image of its
// launchConfig, served as imageUuid "docker:<image>"; "" gives a service without launchConfig (as external and
// DNS services are). Each sidekick image becomes a secondaryLaunchConfig named "<name>-sidekick-<n>". It panics if
// envID is not an environment.
func (s *Server) AddService(envID, name, image string, sidekicks ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.mustProjectLocked("AddService", envID)
	r := s.st.newResourceLocked(kService, p, "active")
	r.name = name
	r.svc = &service{kind: "service", stackID: "1st" + strconv.FormatInt(p.num, 10), image: image, scale: 1}
	for i, img := range sidekicks {
		r.svc.sidekicks = append(r.svc.sidekicks, sidekick{name: fmt.Sprintf("%s-sidekick-%d", name, i+1), image: img})
	}
	return r.id
}

// SetServiceImage changes the image of a service's launchConfig ("" removes the launchConfig). It panics if id is
// not a service.
func (s *Server) SetServiceImage(id, image string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustServiceLocked("SetServiceImage", id)
	r.svc.image = image
	s.st.changes.mark(r)
}

// SetServiceKind sets a service's type and kind, as Cattle lists every kind of service in one collection:
// "loadBalancerService", "externalService", "dnsService", or "service". It panics if id is not a service.
func (s *Server) SetServiceKind(id, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustServiceLocked("SetServiceKind", id)
	r.svc.kind = kind
	s.st.changes.mark(r)
}

// SetSidekickImages replaces the secondaryLaunchConfigs of a service by one per image, named as AddService names
// them. It panics if id is not a service.
func (s *Server) SetSidekickImages(id string, images ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustServiceLocked("SetSidekickImages", id)
	r.svc.sidekicks = nil
	for i, img := range images {
		r.svc.sidekicks = append(r.svc.sidekicks, sidekick{name: fmt.Sprintf("%s-sidekick-%d", r.name, i+1), image: img})
	}
	s.st.changes.mark(r)
}

func (s *Server) mustServiceLocked(fn, id string) *resource {
	r := s.st.byID[id]
	if r == nil || r.kind != kService {
		panic(fmt.Sprintf("ranchertest: %s: no service %q", fn, id))
	}
	return r
}

// Services returns every service of an environment ("" = all environments), removed and purged ones included,
// sorted by id. (SetState changes a service's state.)
func (s *Server) Services(envID string) []Service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Service
	for _, r := range s.st.services.items {
		if envID != "" && r.env.id != envID {
			continue
		}
		v := Service{ID: r.id, EnvID: r.env.id, Name: r.name, State: r.state, StackID: r.svc.stackID, Kind: r.svc.kind, Image: r.svc.image}
		for _, sk := range r.svc.sidekicks {
			v.Sidekicks = append(v.Sidekicks, sk.image)
			v.SidekickNames = append(v.SidekickNames, sk.name)
		}
		out = append(out, v)
	}
	return out
}

// writeService writes a service as Cattle renders it (the fields of its schema, nulls written out).
func writeService(e *enc, r *resource, base, state string) {
	sv := r.svc
	e.raw(`{"id":`)
	e.str(r.id)
	e.raw(`,"type":`)
	e.str(sv.kind)
	e.raw(`,"links":{"self":`)
	e.strs(base, "/services/", r.id)
	e.raw(`,"account":`)
	e.strs(base, "/accounts/", r.env.id)
	e.raw(`,"stack":`)
	e.strs(base, "/stacks/", sv.stackID)
	e.raw(`,"instances":`)
	e.strs(base, "/services/", r.id, "/instances")
	e.raw(`},"actions":{},"baseType":"service","name":`)
	e.nstr(r.name)
	e.raw(`,"state":`)
	e.str(state)
	e.raw(`,"accountId":`)
	e.str(r.env.id)
	e.raw(`,"assignServiceIpAddress":false,"createIndex":1,"created":`)
	e.str(r.created)
	e.raw(`,"createdTS":`)
	e.int(r.createdTS)
	e.raw(`,"currentScale":`)
	e.int(sv.scale)
	e.raw(`,"description":`)
	e.nstr(r.description)
	e.raw(`,"externalId":null,"fqdn":null,"healthState":"healthy","instanceIds":[],"kind":`)
	e.str(sv.kind)
	e.raw(`,"launchConfig":`)
	if sv.image == "" {
		e.null()
	} else {
		writeLaunchConfig(e, "launchConfig", "", sv.image)
	}
	e.raw(`,"lbConfig":null,"linkedServices":null,"metadata":null,"publicEndpoints":null,"removeTime":null,"removed":`)
	e.nstr(r.removed)
	e.raw(`,"retainIp":null,"scale":`)
	e.int(sv.scale)
	e.raw(`,"scalePolicy":null,"secondaryLaunchConfigs":[`)
	for i, sk := range sv.sidekicks {
		if i > 0 {
			e.raw(",")
		}
		writeLaunchConfig(e, "secondaryLaunchConfig", sk.name, sk.image)
	}
	e.raw(`],"selectorContainer":null,"selectorLink":null,"stackId":`)
	e.str(sv.stackID)
	e.raw(`,"startOnCreate":true,"system":false`)
	writeTail(e, r, state)
	e.raw(`,"upgrade":null,"vip":null}`)
}

// writeLaunchConfig writes a launchConfig or secondaryLaunchConfig with the fields Cattle always fills in.
func writeLaunchConfig(e *enc, typ, name, image string) {
	e.raw(`{"type":`)
	e.str(typ)
	if name != "" {
		e.raw(`,"name":`)
		e.str(name)
	}
	e.raw(`,"imageUuid":`)
	e.strs("docker:", image)
	e.raw(`,"kind":"container","labels":{"io.rancher.container.pull_image":"always"},"networkMode":"managed",` +
		`"privileged":false,"publishAllPorts":false,"readOnly":false,"startOnCreate":true,"stdinOpen":false,` +
		`"tty":false,"version":"0","vcpu":1}`)
}
