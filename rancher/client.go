// Package rancher knows the Rancher 1.6 (Cattle) v2-beta API, through the go-rancher v2 client: connecting from
// any CATTLE_URL form a user has (the /v1 URL Rancher injects into agent containers, the server root, /v2-beta,
// an Environment API Endpoint /v2-beta/projects/<id>), finding environments, listing registries and registry
// credentials page by page, writing credentials, and following an environment's websocket event stream
// (events.go). It knows nothing of ECR or of the rules of a pass.
//
// Facts it relies on: Cattle scopes a request to an environment only when the path has more than four segments,
// so an account API key writes registries only through /v2-beta/projects/<id>/schemas (through the unscoped
// schemas the registry types are read-only, go-rancher's "registryCredential is not updatable"); go-rancher does
// not follow pagination (we loop on Next) and sends "links":null when updating with its structs (we send maps);
// registryCredential.secretValue is never returned by a GET.
//
// Every answer is untrusted: every link Rancher sends is pinned to the CATTLE_URL origin (origin.go), redirects
// are never followed and bodies are bounded (transport.go), lists are bounded as a whole (items and bytes held),
// decoded item by item and checked to be collections of the type asked for (decode.go), and error texts are
// scrubbed of the secrets the request carried before they are cut short. The package fetches and decodes the
// schemas document itself, so that go-rancher never follows X-API-Schemas; go-rancher's base client then makes
// the list and write requests. What the package does only because go-rancher
// lacks something is gathered in gorancher.go, whose comment says what each piece covers.
package rancher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	client "github.com/rancher/go-rancher/v2"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Observer is told about every request: the operation, its duration and its error (nil on success).
type Observer func(op string, d time.Duration, err error)

// Options say how to reach a Rancher server.
type Options struct {
	// Endpoint is the server's URL, as ParseURL parsed it (the one parser: nothing parses it again).
	Endpoint  Endpoint
	AccessKey string
	SecretKey redact.Secret
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// CAPEM is a PEM bundle trusted for the server, on top of the system roots.
	CAPEM []byte
	// InsecureSkipVerify turns TLS verification off.
	InsecureSkipVerify bool
	// Proxy chooses the proxy of each request; nil means HTTP_PROXY, HTTPS_PROXY and NO_PROXY.
	Proxy func(*http.Request) (*url.URL, error)
	// Concurrency is how many requests may be in flight (sizes the connection pool); 0 means DefaultConcurrency.
	Concurrency int
	// PageSize is the page size asked for when listing; 0 means DefaultPageSize.
	PageSize int
	// Observe, when set, is told about every request.
	Observe Observer
}

const (
	// DefaultTimeout bounds each request when Options.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// DefaultPageSize is asked for when listing: Cattle's documented maximum (its code caps at 3000).
	DefaultPageSize = 1000
	// DefaultConcurrency bounds the requests in flight when Options.Concurrency is zero.
	DefaultConcurrency = 8
	// maxPages bounds the pages of one list: 1,000 pages of 1,000 is more than any Rancher 1.6 holds.
	maxPages = 1000
	// maxItems bounds the items of one list, whatever the pages.
	maxItems = 200_000
	// maxListBytes bounds what one list holds, whatever the pages: the strings kept and the values holding them
	// (a registry of Rancher's is under 200 bytes; 200,000 of them under 40 MB). A list may hold no more than one
	// answer may be.
	maxListBytes = maxBody
)

// StateActive is the state of a registry or credential in use; Rancher uses no other for pulling images.
const StateActive = "active"

// Key kinds, as Cattle reports them in X-API-Account-Kind.
const (
	KindProject = "project" // an Environment API key (made in the UI)
	KindUser    = "user"    // an Account API key
	KindAdmin   = "admin"   // an Account API key of an administrator
	// KindEnvironment and KindProjectAdmin are the keys Rancher makes for a container with the agent labels
	// (io.rancher.container.agent.role "environment" and "environmentAdmin"): Cattle's switchAccount binds them to
	// the container's environment, whose id is X-API-Account-Id.
	KindEnvironment  = "environment"
	KindProjectAdmin = "projectadmin"
)

// Server is a connection to one Rancher server with one API key.
type Server struct {
	endpoint Endpoint
	origin   origin
	opts     Options
	http     *http.Client
	release  func()

	kind      string // X-API-Account-Kind of the key
	accountID string // X-API-Account-Id of the key
	schemas   string // X-API-Schemas advertised at the base URL, pinned to the origin

	requests atomic.Int64

	mu      sync.Mutex
	account *client.RancherBaseClientImpl // unscoped, for listing environments
}

// Dial checks the URL and the key with one GET of the API base (or of the environment the URL names) and
// learns what kind of key it is. It is the only request Dial makes.
func Dial(ctx context.Context, o Options) (*Server, error) {
	ep := o.Endpoint
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	org, err := newOrigin(ep)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting.URL, err)
	}
	t, release, err := installRouter().register(org.scheme, org.host, o)
	if err != nil {
		return nil, err
	}
	s := &Server{
		endpoint: ep,
		origin:   org,
		opts:     o,
		http: &http.Client{Transport: t, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the route refuses redirects already; never follow one
		}},
		release: release,
	}
	probe := ep.Base()
	if ep.Project != "" {
		probe = ep.String()
	}
	if err := s.probe(ctx, probe); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s: %w", ep, err)
	}
	return s, nil
}

// probe GETs url and reads the key's kind and account and the advertised schemas from the headers.
func (s *Server) probe(ctx context.Context, target string) (err error) {
	s.requests.Add(1)
	start := time.Now()
	defer func() {
		err = scrub(err, s.opts.SecretKey.Reveal())
		s.observe("connect", start, err)
	}()
	resp, body, err := s.get(ctx, target)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := fromResponse(resp.StatusCode, body)
		if resp.StatusCode == http.StatusNotFound {
			e.Hint = "no such environment, or " + setting.URL.String() + " is not a Rancher 1.6 server"
		}
		return e
	}
	schemas := resp.Header.Get("X-API-Schemas")
	if schemas == "" {
		return &Error{Status: resp.StatusCode, Hint: "the answer has no X-API-Schemas header: " + setting.URL.String() + " is not a Rancher 1.6 API"}
	}
	if s.schemas, err = s.origin.pin(schemas); err != nil {
		return &Error{Err: fmt.Errorf("X-API-Schemas: %w", err)}
	}
	if !json.Valid(body) {
		return &Error{Status: resp.StatusCode, Hint: "the answer is not JSON: " + setting.URL.String() + " is not a Rancher 1.6 API, or a proxy answered"}
	}
	s.kind = resp.Header.Get("X-API-Account-Kind")
	s.accountID = resp.Header.Get("X-API-Account-Id")
	return nil
}

// get GETs target (a URL on the origin) with the key and reads the whole answer (bounded by the route).
func (s *Server) get(ctx context.Context, target string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, &Error{Err: err}
	}
	req.SetBasicAuth(s.opts.AccessKey, s.opts.SecretKey.Reveal())
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, nil, fromClient(err)
	}
	defer resp.Body.Close()
	body, err := readAll(resp.Body)
	if err != nil {
		return nil, nil, fromClient(err)
	}
	return resp, body, nil
}

// readAll reads r (bounded by the route) in blocks, joined once at the end: unlike io.ReadAll, it leaves no trail
// of ever larger buffers behind, and a body cut at the bound costs only the blocks read.
func readAll(r io.Reader) ([]byte, error) {
	const block = 256 << 10
	var blocks [][]byte
	for {
		b := make([]byte, block)
		n, err := io.ReadFull(r, b)
		blocks = append(blocks, b[:n])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return bytes.Join(blocks, nil), nil
		case err != nil:
			return nil, err
		}
	}
}

func (s *Server) observe(op string, start time.Time, err error) {
	if s.opts.Observe != nil {
		s.opts.Observe(op, time.Since(start), err)
	}
}

// Close releases the server's connections.
func (s *Server) Close() {
	if s.release != nil {
		s.release()
	}
}

// CloseIdleConnections closes the connections no request is using: between passes, hours apart, they only
// hold memory (and Rancher would close them anyway).
func (s *Server) CloseIdleConnections() {
	if t, ok := s.http.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// Endpoint is the parsed CATTLE_URL.
func (s *Server) Endpoint() Endpoint { return s.endpoint }

// KeyKind is the kind of the API key as Cattle reports it ("project" for an Environment API key, "user" or "admin"
// for an Account API key, "environment" or "projectadmin" for the key Rancher gives a container with the agent
// labels), "" when not reported.
func (s *Server) KeyKind() string { return s.kind }

// IsAccountKey reports whether the key is an Account API key, which can reach several environments.
func (s *Server) IsAccountKey() bool { return s.kind == KindUser || s.kind == KindAdmin }

// IsAgentKey reports whether the key is one Rancher gave a container with the agent labels.
func (s *Server) IsAgentKey() bool { return s.kind == KindEnvironment || s.kind == KindProjectAdmin }

// BoundEnvironment is the id of the one environment the key is bound to (an Environment API key's, or the
// container's environment for a key from the agent labels: X-API-Account-Id), "" for an Account API key or a key
// whose kind Rancher did not report.
func (s *Server) BoundEnvironment() string {
	if s.kind == KindProject || s.IsAgentKey() {
		return s.accountID
	}
	return ""
}

// Requests is how many HTTP requests this server and its environments have made.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Environment is a Rancher environment (a Cattle "project").
type Environment struct {
	ID, Name, State string
}

// Environments lists the environments the key can see, following pagination. The first call connects an
// unscoped client (one request, once per Server).
func (s *Server) Environments(ctx context.Context) ([]Environment, error) {
	s.mu.Lock()
	c := s.account
	s.mu.Unlock()
	if c == nil {
		var err error
		c, err = s.connect(ctx, s.schemas, &s.requests, client.PROJECT_TYPE)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", s.endpoint, err)
		}
		s.mu.Lock()
		s.account = c
		s.mu.Unlock()
	}
	out, err := listAll(ctx, s, "list environments", &s.requests, c, client.PROJECT_TYPE, keepProject)
	if err != nil {
		s.mu.Lock()
		s.account = nil
		s.mu.Unlock()
		return nil, fmt.Errorf("list environments: %w", err)
	}
	return out, nil
}

// Open connects a client scoped to one environment (one request: its schemas). An empty id means the
// environment CATTLE_URL names, or else the key's own scope (an Environment API key's environment, or the
// environment of the agent container Rancher gave the keys to). It fails with an explanation when the key could
// read but not write registries there (see Inspect, in access.go).
func (s *Server) Open(ctx context.Context, id string) (*Env, error) {
	e, access, err := s.Inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.Err(); err != nil {
		return nil, fmt.Errorf("environment %s: %w; %s", e, err, s.WriteFix())
	}
	return e, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// Env is a client scoped to one environment. It is safe for concurrent use.
type Env struct {
	srv      *Server
	c        *client.RancherBaseClientImpl
	requests atomic.Int64
	mu       sync.Mutex
	id       string
}

// ID is the environment id, "" while unknown (a key of an unreported kind, whose environment Rancher does not name
// until a registry shows it).
func (e *Env) ID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.id
}

func (e *Env) String() string {
	if id := e.ID(); id != "" {
		return id
	}
	return "(the key's environment)"
}

// Requests is how many HTTP requests this environment's client has made, its connection included.
func (e *Env) Requests() int64 { return e.requests.Load() }

// Registry is a registry as Rancher lists it.
type Registry struct {
	ID, EnvID, ServerAddress, State, Name string
}

// Credential is a registry credential as Rancher lists it (the secret is never listed).
type Credential struct {
	ID, EnvID, RegistryID, State string
	self                         string // links.self as Rancher sent it; pinned before use
}

// Registries lists every registry of the environment that Rancher lists (all but removed and purged), page by page.
func (e *Env) Registries(ctx context.Context) ([]Registry, error) {
	out, err := listAll(ctx, e.srv, "list registries", &e.requests, e.c, client.REGISTRY_TYPE, keepRegistry)
	if err != nil {
		return nil, fmt.Errorf("list registries of environment %s: %w", e, err)
	}
	if len(out) > 0 && out[0].EnvID != "" {
		e.mu.Lock()
		if e.id == "" {
			e.id = out[0].EnvID
		}
		e.mu.Unlock()
	}
	return out, nil
}

// Credentials lists every registry credential of the environment, page by page: one list for all registries.
func (e *Env) Credentials(ctx context.Context) ([]Credential, error) {
	out, err := listAll(ctx, e.srv, "list credentials", &e.requests, e.c, client.REGISTRY_CREDENTIAL_TYPE, keepCredential)
	if err != nil {
		return nil, fmt.Errorf("list registry credentials of environment %s: %w", e, err)
	}
	return out, nil
}

func credential(c client.RegistryCredential) Credential {
	return Credential{ID: c.Id, EnvID: c.AccountId, RegistryID: c.RegistryId, State: c.State, self: c.Links[client.SELF]}
}

func registry(r client.Registry) Registry {
	return Registry{ID: r.Id, EnvID: r.AccountId, ServerAddress: r.ServerAddress, State: r.State, Name: r.Name}
}

// page is one page of a list: its items, their size (see keepFunc) and the next link Rancher sent ("" for the last
// page).
type page[T any] struct {
	items []T
	size  int
	next  string
}

// The items of lists as the package decodes them (decode.go): the fields it keeps, and the type.

type registryItem struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	AccountID     string `json:"accountId"`
	ServerAddress string `json:"serverAddress"`
	State         string `json:"state"`
	Name          string `json:"name"`
}

func keepRegistry(r *registryItem) (string, Registry, int) {
	v := Registry{ID: r.ID, EnvID: r.AccountID, ServerAddress: r.ServerAddress, State: r.State, Name: r.Name}
	return r.Type, v, int(unsafe.Sizeof(v)) + len(v.ID) + len(v.EnvID) + len(v.ServerAddress) + len(v.State) + len(v.Name)
}

type credentialItem struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	AccountID  string `json:"accountId"`
	RegistryID string `json:"registryId"`
	State      string `json:"state"`
	Links      struct {
		Self string `json:"self"`
	} `json:"links"`
}

func keepCredential(c *credentialItem) (string, Credential, int) {
	v := Credential{ID: c.ID, EnvID: c.AccountID, RegistryID: c.RegistryID, State: c.State, self: c.Links.Self}
	return c.Type, v, int(unsafe.Sizeof(v)) + len(v.ID) + len(v.EnvID) + len(v.RegistryID) + len(v.State) + len(v.self)
}

type projectItem struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Name  string `json:"name"`
	State string `json:"state"`
}

func keepProject(p *projectItem) (string, Environment, int) {
	v := Environment{ID: p.ID, Name: p.Name, State: p.State}
	return p.Type, v, int(unsafe.Sizeof(v)) + len(v.ID) + len(v.Name) + len(v.State)
}

// UpdateCredential writes a new user and password into an existing credential, with a JSON map so that nothing
// but those two fields is sent.
func (e *Env) UpdateCredential(ctx context.Context, c Credential, user string, password redact.Secret) error {
	if password.Empty() {
		return fmt.Errorf("update credential %s of registry %s: refusing to write an empty password", c.ID, c.RegistryID)
	}
	self, err := e.srv.origin.pin(c.self)
	if err != nil {
		return fmt.Errorf("update credential %s of registry %s in environment %s: self link: %w", c.ID, c.RegistryID, e, err)
	}
	resp, err := call(ctx, e.srv, "update credential", &e.requests, func() (*client.RegistryCredential, error) {
		var resp client.RegistryCredential
		err := e.c.Update(client.REGISTRY_CREDENTIAL_TYPE, &client.Resource{Links: map[string]string{client.SELF: self}},
			map[string]interface{}{
				"publicValue": user,
				"secretValue": password.Reveal(),
			}, &resp)
		resp.SecretValue = ""
		return &resp, err
	}, password.Reveal())
	if err == nil {
		err = written(resp.Type, resp.Id, client.REGISTRY_CREDENTIAL_TYPE, c.ID)
	}
	if err == nil && removedState(resp.State) {
		err = ErrRemoved
	}
	if err != nil {
		return fmt.Errorf("update credential %s of registry %s in environment %s: %w", c.ID, c.RegistryID, e, err)
	}
	return nil
}

// removedState reports whether a resource in this state is removed: Cattle lists it no more and uses it for
// nothing.
func removedState(state string) bool {
	return state == "removed" || state == "purging" || state == "purged"
}

// CreateCredential adds a credential to a registry.
func (e *Env) CreateCredential(ctx context.Context, registryID, user string, password redact.Secret) (Credential, error) {
	if password.Empty() {
		return Credential{}, fmt.Errorf("create credential of registry %s: refusing to write an empty password", registryID)
	}
	resp, err := call(ctx, e.srv, "create credential", &e.requests, func() (*client.RegistryCredential, error) {
		var resp client.RegistryCredential
		err := e.c.Create(client.REGISTRY_CREDENTIAL_TYPE, map[string]interface{}{
			"registryId":  registryID,
			"publicValue": user,
			"secretValue": password.Reveal(),
		}, &resp)
		resp.SecretValue = ""
		return &resp, err
	}, password.Reveal())
	if err == nil {
		err = written(resp.Type, resp.Id, client.REGISTRY_CREDENTIAL_TYPE, "")
	}
	if err != nil {
		return Credential{}, fmt.Errorf("create credential of registry %s in environment %s: %w", registryID, e, err)
	}
	return credential(*resp), nil
}

// CreateRegistry adds a registry. When the environment has one with the same server address already (Cattle
// compares without case), the error wraps ErrRegistryExists.
func (e *Env) CreateRegistry(ctx context.Context, serverAddress string) (Registry, error) {
	resp, err := call(ctx, e.srv, "create registry", &e.requests, func() (*client.Registry, error) {
		var resp client.Registry
		err := e.c.Create(client.REGISTRY_TYPE, map[string]interface{}{"serverAddress": serverAddress}, &resp)
		return &resp, err
	})
	var re *Error
	if errors.As(err, &re) && re.Status == http.StatusBadRequest && re.Code == "ServerAddressUsed" {
		err = fmt.Errorf("%w: %w", ErrRegistryExists, err)
	}
	if err == nil {
		err = written(resp.Type, resp.Id, client.REGISTRY_TYPE, "")
	}
	if err != nil {
		return Registry{}, fmt.Errorf("create registry %s in environment %s: %w", serverAddress, e, err)
	}
	return registry(*resp), nil
}
