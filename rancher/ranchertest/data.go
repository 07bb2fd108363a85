package ranchertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// kind is the resource kind of a stored resource.
type kind uint8

const (
	kProject kind = iota
	kRegistry
	kCredential
	kService // services.go
)

// resource is one stored Cattle resource: an environment (project), a registry or a registry credential.
// Fields are guarded by Server.mu.
type resource struct {
	kind      kind
	num       int64  // numeric part of id, the sort key
	id        string // "1a5", "1sp3", "1c7"
	env       *resource
	uuid      string
	created   string // RFC3339, UTC, seconds
	createdTS int64  // epoch milliseconds
	state     string
	removed   string // RFC3339 time the resource was removed; "" while not removed

	name, description string
	serverAddress     string // registry
	registryID        string // credential
	publicValue       string // credential
	secretValue       string // credential
	writes            int    // credential: PUTs that changed publicValue or secretValue

	// project only: this environment's registries and credentials, by id.
	regs, creds index

	svc  *service // service only (services.go)
	svcs index    // project only: this environment's services, by id
}

// index is a list of resources sorted by id (ids are sequential, so appending keeps the order) and the number of
// them that lists hide by default, so that an unfiltered page is a slice and costs O(page).
type index struct {
	items  []*resource
	hidden int
}

func (ix *index) add(r *resource) {
	ix.items = append(ix.items, r)
	if hiddenState(r.state) {
		ix.hidden++
	}
}

// from returns the position of the first item with an id number greater than num.
func (ix *index) from(num int64) int {
	return sort.Search(len(ix.items), func(i int) bool { return ix.items[i].num > num })
}

// hiddenState reports whether lists leave out resources in this state unless a "removed" filter is given: Cattle's
// default list condition is "removed IS NULL", and removed is set on entering these states.
func hiddenState(state string) bool {
	return state == "removed" || state == "purging" || state == "purged"
}

// transitional reports whether Cattle shows transitioning "yes" for a state.
func transitional(state string) bool {
	switch state {
	case "requested", "registering", "activating", "deactivating", "updating-active", "updating-inactive",
		"removing", "purging", "restoring",
		"upgrading", "rolling-back", "canceling-upgrade", "finishing-upgrade", "restarting": // services
		return true
	}
	return false
}

// envKeyUsable reports whether an Environment API key of an environment in this state authenticates.
func envKeyUsable(state string) bool {
	switch state {
	case "inactive", "deactivating", "removing", "removed", "purging", "purged":
		return false
	}
	return true
}

func (r *resource) idx(k kind) *index {
	switch k {
	case kRegistry:
		return &r.regs
	case kService:
		return &r.svcs
	}
	return &r.creds
}

// user is the account behind an Account API key.
type user struct {
	id      string
	admin   bool
	members []string // environment ids, in the order given
	member  map[string]bool
}

// apiKey is an API key: bound to one environment (env set: an Environment API key, or a key Rancher made for a
// container with the agent labels) or an Account API key (user set).
type apiKey struct {
	secret string
	env    *resource
	kind   string // X-API-Account-Kind of a key bound to env: "project", "environment" or "projectadmin"
	user   *user
}

// store is the data behind the API. Guarded by Server.mu.
type store struct {
	nextAccount int64 // projects and, after the reserved ones, users
	nextUser    int64 // reserved user account numbers 1..4
	nextReg     int64
	nextCred    int64
	nextSvc     int64 // services.go

	projects, registries, credentials, services index
	byID                                        map[string]*resource
	keys                                        map[string]*apiKey

	changes changeSet // for the event stream (subscribe.go)
}

func newStore() store {
	return store{
		nextAccount: 5,
		nextUser:    1,
		nextReg:     1,
		nextCred:    1,
		nextSvc:     1,
		byID:        map[string]*resource{},
		keys:        map[string]*apiKey{},
	}
}

func (st *store) global(k kind) *index {
	switch k {
	case kProject:
		return &st.projects
	case kRegistry:
		return &st.registries
	case kService:
		return &st.services
	}
	return &st.credentials
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func nowStamp() (string, int64) {
	t := time.Now().UTC().Truncate(time.Second)
	return t.Format(time.RFC3339), t.UnixMilli()
}

// newResourceLocked creates and indexes a resource. state "" means active.
func (st *store) newResourceLocked(k kind, env *resource, state string) *resource {
	if state == "" {
		state = "active"
	}
	r := &resource{kind: k, env: env, uuid: newUUID(), state: state}
	r.created, r.createdTS = nowStamp()
	switch k {
	case kProject:
		r.num = st.nextAccount
		st.nextAccount++
		r.id = "1a" + strconv.FormatInt(r.num, 10)
	case kRegistry:
		r.num = st.nextReg
		st.nextReg++
		r.id = "1sp" + strconv.FormatInt(r.num, 10)
	case kCredential:
		r.num = st.nextCred
		st.nextCred++
		r.id = "1c" + strconv.FormatInt(r.num, 10)
	case kService:
		r.num = st.nextSvc
		st.nextSvc++
		r.id = "1s" + strconv.FormatInt(r.num, 10)
	}
	if hiddenState(state) {
		r.removed = r.created
	}
	st.byID[r.id] = r
	st.changes.mark(r)
	st.global(k).add(r)
	if env != nil {
		env.idx(k).add(r)
	}
	return r
}

// setStateLocked changes a resource's state, keeping removed and the hidden counters right.
func (st *store) setStateLocked(r *resource, state string) {
	was, is := hiddenState(r.state), hiddenState(state)
	r.state = state
	st.changes.mark(r)
	switch {
	case is && r.removed == "":
		r.removed, _ = nowStamp()
	case !is:
		r.removed = ""
	}
	if was == is {
		return
	}
	d := 1
	if was {
		d = -1
	}
	st.global(r.kind).hidden += d
	if r.env != nil {
		r.env.idx(r.kind).hidden += d
	}
}

func (st *store) projectLocked(id string) *resource {
	if r := st.byID[id]; r != nil && r.kind == kProject {
		return r
	}
	return nil
}

func (st *store) mustProjectLocked(fn, id string) *resource {
	p := st.projectLocked(id)
	if p == nil {
		panic(fmt.Sprintf("ranchertest: %s: no environment %q", fn, id))
	}
	return p
}

// Registry is a stored registry, as the test sees it.
type Registry struct {
	ID, EnvID, ServerAddress, State, Name string
}

// Credential is a stored registry credential, as the test sees it, secretValue included.
type Credential struct {
	ID, EnvID, RegistryID, PublicValue, SecretValue, State string
	Writes                                                 int // PUTs that changed PublicValue or SecretValue
}

// AddEnvironment adds an environment (a Cattle "project", state active) and returns its id ("1a5", "1a6", ...).
func (s *Server) AddEnvironment(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.newResourceLocked(kProject, nil, "active")
	p.name = name
	return p.id
}

// SetEnvironmentState sets an environment's state. Environment API keys of an environment that is inactive,
// deactivating, removing, removed, purging or purged no longer authenticate; removed and purged environments
// disappear from lists and scopes. It panics if id is not an environment.
func (s *Server) SetEnvironmentState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.setStateLocked(s.st.mustProjectLocked("SetEnvironmentState", id), state)
}

// AddEnvironmentKey adds an Environment API key: it acts inside that environment only. It panics if envID is not
// an environment.
func (s *Server) AddEnvironmentKey(envID, accessKey, secretKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.mustProjectLocked("AddEnvironmentKey", envID)
	s.st.keys[accessKey] = &apiKey{secret: secretKey, env: p, kind: "project"}
}

// Agent roles: the value of the io.rancher.container.agent.role label of a container Rancher makes keys for.
const (
	AgentRoleEnvironment      = "environment"      // the key reports X-API-Account-Kind "environment"
	AgentRoleEnvironmentAdmin = "environmentAdmin" // the key reports X-API-Account-Kind "projectadmin"
)

// AddAgentKey adds the key Rancher makes for a container with the agent labels (io.rancher.container.create_agent
// and io.rancher.container.agent.role) in an environment. Cattle switches such a key to the environment's account
// (BasicAuthImpl.switchAccount): it acts inside that environment only, like an Environment API key, and reports
// X-API-Account-Kind "environment" (role AgentRoleEnvironment) or "projectadmin" (AgentRoleEnvironmentAdmin), with
// the environment's id in X-API-Account-Id. It panics if envID is not an environment or the role is another.
func (s *Server) AddAgentKey(envID, role, accessKey, secretKey string) {
	kind := ""
	switch role {
	case AgentRoleEnvironment:
		kind = "environment"
	case AgentRoleEnvironmentAdmin:
		kind = "projectadmin"
	default:
		panic(fmt.Sprintf("ranchertest: AddAgentKey: role %q (want %q or %q)", role, AgentRoleEnvironment, AgentRoleEnvironmentAdmin))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.mustProjectLocked("AddAgentKey", envID)
	s.st.keys[accessKey] = &apiKey{secret: secretKey, env: p, kind: kind}
}

// AddAccountKey adds an Account API key of a new user who is a member of the given environments (ids; they need not
// exist yet). An admin sees every environment. Users take the account ids 1a1..1a4 Cattle reserves below the first
// environment, then share the counter with environments.
func (s *Server) AddAccountKey(accessKey, secretKey string, admin bool, memberOf ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var num int64
	if s.st.nextUser < 5 {
		num = s.st.nextUser
		s.st.nextUser++
	} else {
		num = s.st.nextAccount
		s.st.nextAccount++
	}
	u := &user{id: "1a" + strconv.FormatInt(num, 10), admin: admin, member: map[string]bool{}}
	for _, id := range memberOf {
		if !u.member[id] {
			u.member[id] = true
			u.members = append(u.members, id)
		}
	}
	s.st.keys[accessKey] = &apiKey{secret: secretKey, user: u}
}

// AddRegistry adds a registry to an environment and returns its id ("1sp1", ...). state "" means active. It panics if
// envID is not an environment. serverAddress is stored as given (no uniqueness check, unlike the API).
func (s *Server) AddRegistry(envID, serverAddress, state string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.mustProjectLocked("AddRegistry", envID)
	r := s.st.newResourceLocked(kRegistry, p, state)
	r.serverAddress = serverAddress
	return r.id
}

// AddCredential adds a registry credential to an environment and returns its id ("1c1", ...). state "" means
// active. registryID is stored as given (it may name no registry, or one of another environment). It panics if
// envID is not an environment.
func (s *Server) AddCredential(envID, registryID, publicValue, secretValue, state string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.mustProjectLocked("AddCredential", envID)
	r := s.st.newResourceLocked(kCredential, p, state)
	r.registryID, r.publicValue, r.secretValue = registryID, publicValue, secretValue
	return r.id
}

// SetState sets the state of any registry, credential or environment, with no cascade. Entering removed, purging
// or purged sets the removed time (lists hide the resource); leaving them clears it. It panics on an unknown id.
func (s *Server) SetState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.byID[id]
	if r == nil {
		panic(fmt.Sprintf("ranchertest: SetState: unknown id %q", id))
	}
	s.st.setStateLocked(r, state)
}

// Registries returns every registry of an environment ("" = all environments), removed and purged ones included,
// sorted by id.
func (s *Server) Registries(envID string) []Registry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Registry
	for _, r := range s.st.registries.items {
		if envID == "" || r.env.id == envID {
			out = append(out, Registry{ID: r.id, EnvID: r.env.id, ServerAddress: r.serverAddress, State: r.state, Name: r.name})
		}
	}
	return out
}

// Credentials returns every registry credential of an environment ("" = all environments), removed and purged ones
// and the secretValue included, sorted by id.
func (s *Server) Credentials(envID string) []Credential {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Credential
	for _, r := range s.st.credentials.items {
		if envID == "" || r.env.id == envID {
			out = append(out, credentialOf(r))
		}
	}
	return out
}

// Credential returns one registry credential by id, whatever its state.
func (s *Server) Credential(id string) (Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.st.byID[id]
	if r == nil || r.kind != kCredential {
		return Credential{}, false
	}
	return credentialOf(r), true
}

func credentialOf(r *resource) Credential {
	return Credential{ID: r.id, EnvID: r.env.id, RegistryID: r.registryID, PublicValue: r.publicValue,
		SecretValue: r.secretValue, State: r.state, Writes: r.writes}
}
