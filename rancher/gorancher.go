package rancher

// This file gathers the code that exists only because go-rancher v2 (github.com/rancher/go-rancher/v2, the client
// the package uses for lists and writes) lacks something. Each piece, what go-rancher lacks, and how it is covered:
//
//   - The router installed as http.DefaultTransport (router, installRouter, register). go-rancher builds a new
//     http.Client on http.DefaultTransport for every call: no CA, TLS verification, proxy or timeouts per server,
//     and no control of redirects. The router sends each registered Rancher origin to that Server's own transport
//     (built by newTransport, transport.go) and refuses to send a registered key anywhere else. It is the one
//     piece of process-wide state in the project.
//   - The init-order switch-off of RANCHER_CLIENT_DEBUG (the blank import of internal/nodebug below). go-rancher
//     reads that variable once in its init and, when it is "true", prints every request body, secrets included, to
//     standard output; nothing in its API turns that off. nodebug's init runs before go-rancher's and unsets it.
//   - A goroutine per request (call). go-rancher takes no context.Context: call runs the request in a goroutine
//     and returns when it ends or when ctx is done, whichever comes first; the route's timeout ends the abandoned
//     request. call also turns go-rancher's errors into *Error and scrubs them of the secrets the request carried.
//   - Fetching the schemas document ourselves and keeping only the schemas used (connect, decodeSchemas).
//     go-rancher's constructor follows the X-API-Schemas header to whatever host it names and reads a body of any
//     size, and it keeps every schema (over a hundred) for the life of a client: connect GETs the document on the
//     origin itself (bounded by the route), decodeSchemas keeps only the types named and pins their links.
//   - Following pagination ourselves (listAll). go-rancher lists one page and never follows pagination.next:
//     listAll follows it, each link pinned to the origin, with bounds on pages, items and bytes held, and loop
//     detection.
//   - Decoding list pages ourselves (pageOf, decode.go). go-rancher's collection types decode every item into its
//     whole generated struct (hundreds of bytes, maps and interface values, whatever the item's size on the
//     wire): listAll hands go-rancher a decoder of its own that keeps only the fields used, item by item, within
//     the list's bounds.
//   - Parsing go-rancher's "k=v, k=v" error text (pairKey, pairsOf, fromClient). go-rancher rebuilds Cattle's
//     JSON error body as "k=v, k=v" text in ApiError.Body, and puts whole bodies in its "Failed to parse" errors:
//     fromClient reads Cattle's code and message back out of the pairs and keeps only what the JSON decoder found
//     wrong.
//   - Sending writes as maps (UpdateCredential, CreateCredential and CreateRegistry, in client.go). go-rancher's
//     structs send every field, "links":null included, which Cattle rejects or applies: the writes send a
//     map[string]interface{} with only the fields written. They stay next to the other writes because the map is
//     one argument of each, not code of its own.
//
// Two related pieces are not go-rancher workarounds and stay where they are: origin pinning (origin.go) would be
// needed with any client, since it is about Rancher's answers (links naming another host or scheme), not about
// go-rancher; and the transport guard (guard, newTransport, transport.go: no redirects, bounded bodies, the CA
// and proxy of a Server) is the policy for untrusted answers that any HTTP client here would apply; only the way
// it is put in go-rancher's path (the router) is a workaround.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	client "github.com/rancher/go-rancher/v2"

	_ "github.com/ecr-updater/ecr-updater/internal/nodebug" // before go-rancher's init: no request bodies on stdout
	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// go-rancher v2 builds a new http.Client on http.DefaultTransport for every call and offers no hook for a CA,
// TLS verification, proxies or connection limits. So this package installs, once per process, a router as
// http.DefaultTransport: requests to an origin (scheme, host, port) that a Server registered go through that
// Server's own transport (a guard around an http.Transport: no redirects, bounded bodies); a request that
// carries a registered Rancher key (Basic auth) to any other origin is refused (see origin.go for why); every
// other request goes through the transport that was there before. This is the one piece of process-wide state
// in the project, and nothing else in the process depends on the default transport.
type router struct {
	fallback http.RoundTripper
	mu       sync.RWMutex
	routes   map[string]*route
	keys     map[string]bool // every Rancher secret key ever registered: never sent to another origin, even after Close
}

type route struct {
	transport *http.Transport
	guard     *guard
	settings  string // what the transport was built from; a second Server to the host must agree
	refs      int
}

var (
	installOnce sync.Once
	theRouter   *router
)

func installRouter() *router {
	installOnce.Do(func() {
		theRouter = &router{fallback: http.DefaultTransport, routes: map[string]*route{}, keys: map[string]bool{}}
		http.DefaultTransport = theRouter
	})
	return theRouter
}

func routeKey(scheme, host string) string { return strings.ToLower(scheme + "://" + host) }

// RoundTrip implements http.RoundTripper.
func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.RLock()
	rt, ok := r.routes[routeKey(req.URL.Scheme, req.URL.Host)]
	leak := false
	if !ok {
		if _, secret, auth := req.BasicAuth(); auth && secret != "" {
			leak = r.keys[secret]
		}
	}
	r.mu.RUnlock()
	switch {
	case ok:
		return rt.guard.RoundTrip(req)
	case leak:
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, &strayError{origin: strings.ToLower(req.URL.Scheme + "://" + req.URL.Host)}
	}
	return r.fallback.RoundTrip(req)
}

// strayError is the router's refusal to send a Rancher key outside the origin of the Rancher URL. The router
// serves the whole process and knows no setting names, so the text is neutral.
type strayError struct{ origin string }

func (e *strayError) Error() string {
	return fmt.Sprintf("refused to send the Rancher API key to %s, which is not the origin of %s", truncate(e.origin), setting.URL)
}

// register sends every request to scheme://host through a transport built from o, until release is called.
// Servers to the same host share the transport when their settings agree; a Server whose settings differ from
// one still open is refused, since requests to one host cannot be told apart.
// The key o.SecretKey is registered too: from then on, for the life of the process, the router refuses to send it
// to any origin that has no route (after release, to every origin).
func (r *router) register(scheme, host string, o Options) (t http.RoundTripper, release func(), err error) {
	key, settings := routeKey(scheme, host), settingsOf(o)
	secret := o.SecretKey.Reveal()
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.routes[key]
	switch {
	case ok && rt.settings != settings:
		return nil, nil, fmt.Errorf("another connection to %s with other TLS, proxy or timeout settings is open", host)
	case ok:
		rt.refs++
	default:
		t, err := newTransport(o)
		if err != nil {
			return nil, nil, err
		}
		rt = &route{transport: t, guard: &guard{t: t}, settings: settings, refs: 1}
		r.routes[key] = rt
	}
	if secret != "" {
		r.keys[secret] = true
	}
	var once sync.Once
	return rt.guard, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if rt.refs--; rt.refs == 0 {
				delete(r.routes, key)
				rt.transport.CloseIdleConnections()
			}
		})
	}, nil
}

// connect builds a go-rancher base client from the schemas document at schemasURL (a URL on the origin), with one
// request. It fetches and decodes the document itself (go-rancher would follow the document's X-API-Schemas
// header wherever it points, and read any size of body), keeps only the schemas of the types named (a Cattle
// server describes over a hundred, and an updater serving many environments keeps one client per environment
// for its whole life), and pins their links to the origin.
func (s *Server) connect(ctx context.Context, schemasURL string, counter *atomic.Int64, types ...string) (*client.RancherBaseClientImpl, error) {
	return call(ctx, s, "connect", counter, func() (*client.RancherBaseClientImpl, error) {
		resp, body, err := s.get(ctx, schemasURL)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fromResponse(resp.StatusCode, body)
		}
		kept, err := decodeSchemas(body, s.origin, types...)
		if err != nil {
			return nil, err
		}
		return &client.RancherBaseClientImpl{
			Opts: &client.ClientOpts{
				Url:       schemasURL,
				AccessKey: s.opts.AccessKey,
				SecretKey: s.opts.SecretKey.Reveal(),
				Timeout:   s.opts.Timeout,
			},
			Schemas: &client.Schemas{},
			Types:   kept,
		}, nil
	})
}

// call runs one go-rancher request, which has no context of its own: it returns when the request ends or when ctx
// is done, whichever comes first (an abandoned request still ends within Options.Timeout, and its result is
// dropped). It counts the request on counter and on the server, and reports it to the observer.
//
// The error is scrubbed of the Rancher secret key and of the secrets given (what the request carried) before
// anything cuts it short.
func call[T any](ctx context.Context, s *Server, op string, counter *atomic.Int64, f func() (T, error), secrets ...string) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if counter != &s.requests {
		counter.Add(1)
	}
	s.requests.Add(1)
	start := time.Now()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	var r result
	select {
	case r = <-done:
		r.err = scrub(fromClient(r.err), append(secrets, s.opts.SecretKey.Reveal())...)
	case <-ctx.Done():
		r = result{zero, ctx.Err()}
	}
	s.observe(op, start, r.err)
	if r.err != nil {
		return zero, r.err
	}
	return r.v, nil
}

func listOpts(pageSize int) *client.ListOpts {
	return &client.ListOpts{Filters: map[string]interface{}{"limit": pageSize}}
}

// listAll lists a collection: the first page through the schema's collection link, then the "next" links (go-rancher
// does not follow them), each pinned to the origin, one counted request a page. Each page is decoded by the package,
// not into go-rancher's structs (decode.go says why): go-rancher makes the request and hands the body to the
// page's decoder. A next link already followed (a loop), more than maxPages pages, more than maxItems items or
// more than maxListBytes held is an error, as is a page that is not a collection of the type asked for.
func listAll[I, T any](ctx context.Context, s *Server, op string, counter *atomic.Int64, c *client.RancherBaseClientImpl,
	schemaType string, keep keepFunc[I, T]) ([]T, error) {
	left := listBudget{items: maxItems, bytes: maxListBytes}
	get := func(next string) (page[T], error) {
		budget := left
		return call(ctx, s, op, counter, func() (page[T], error) {
			p := newPageOf(schemaType, keep, budget)
			var err error
			if next == "" {
				err = c.List(schemaType, listOpts(s.opts.PageSize), p)
			} else {
				err = c.GetLink(client.Resource{Links: map[string]string{"next": next}}, "next", p)
			}
			if err != nil {
				return page[T]{}, err
			}
			return p.page()
		})
	}
	p, err := get("")
	var out []T
	var seen map[string]bool
	for pages := 1; err == nil; pages++ {
		out = append(out, p.items...)
		left.items -= len(p.items)
		left.bytes -= p.size
		if p.next == "" {
			return out, nil
		}
		if pages >= maxPages {
			return nil, fmt.Errorf("rancher's list goes on past %d pages", maxPages)
		}
		next, perr := s.origin.pin(p.next)
		if perr != nil {
			return nil, fmt.Errorf("next link of page %d: %w", pages, perr)
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		if seen[next] {
			return nil, fmt.Errorf("the next link of page %d leads back to a page already read (a loop)", pages)
		}
		seen[next] = true
		p, err = get(next)
	}
	return nil, err
}

// pairKey finds where a pair of go-rancher's "k=v, k=v" error text starts: at the start or after ", ", a JSON
// field name and "=".
var pairKey = regexp.MustCompile(`(?:^|, )([A-Za-z][A-Za-z0-9_]*)=`)

// pairsOf reads go-rancher's rebuilt error body. A value runs to the next ", name=" (so a message that holds
// ", " is kept whole, unless it holds ", name=" too).
func pairsOf(body string) map[string]string {
	out := map[string]string{}
	locs := pairKey.FindAllStringSubmatchIndex(body, -1)
	for i, l := range locs {
		end := len(body)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out[body[l[2]:l[3]]] = body[l[1]:end]
	}
	return out
}

// fromClient converts an error of go-rancher into an *Error.
func fromClient(err error) error {
	if err == nil {
		return nil
	}
	var api *client.ApiError
	if errors.As(err, &api) {
		e := &Error{Status: api.StatusCode, Hint: hintFor(api.StatusCode)}
		// go-rancher rebuilds the JSON error body as "k=v, k=v" pairs; a value may hold ", " itself.
		pairs := pairsOf(api.Body)
		e.Code, e.Message = pairs["code"], pairs["message"]
		if f := pairs["fieldName"]; e.Message == "" && f != "" {
			e.Message = "field " + f
		}
		return e
	}
	var re *redirectError
	if errors.As(err, &re) {
		return &Error{Status: re.status, Hint: re.hint()}
	}
	if e, ok := err.(*Error); ok {
		return e // made by this package already
	}
	if strings.HasPrefix(err.Error(), "Failed to parse") {
		// go-rancher puts the whole body in this error: keep only what the JSON decoder found wrong.
		err = errors.New("rancher's answer is not JSON of the expected shape: " + jsonErrorText(err))
	}
	e := &Error{Err: err}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Hint = "no answer within " + setting.RancherTimeout.String()
	}
	return e
}

// schemaDoc is the part of a schemas document the updater reads.
type schemaDoc struct {
	client.Collection
	Data []struct {
		ID                string            `json:"id"`
		Type              string            `json:"type"`
		PluralName        string            `json:"pluralName"`
		Links             map[string]string `json:"links"`
		CollectionMethods []string          `json:"collectionMethods"`
		ResourceMethods   []string          `json:"resourceMethods"`
	} `json:"data"`
}

// decodeSchemas reads a schemas document and returns the schemas of the types named, with their collection and
// self links pinned to the origin. A body that is not a collection of schemas is an error (its text never
// carries the body).
func decodeSchemas(body []byte, o origin, types ...string) (map[string]client.Schema, error) {
	var doc schemaDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("rancher's schemas document is not JSON of the expected shape: " + jsonErrorText(err))
	}
	if err := isCollection(doc.Type, doc.ResourceType, "schema", doc.Data == nil); err != nil {
		return nil, err
	}
	kept := make(map[string]client.Schema, len(types))
	for _, d := range doc.Data {
		want := false
		for _, t := range types {
			want = want || d.ID == t
		}
		if !want {
			continue
		}
		if d.Type != "schema" {
			return nil, fmt.Errorf("rancher's schema of %s is a %q", d.ID, truncate(d.Type))
		}
		if _, dup := kept[d.ID]; dup {
			return nil, fmt.Errorf("rancher's schemas document describes %s twice", d.ID)
		}
		links := make(map[string]string, 2)
		for _, name := range []string{client.COLLECTION, client.SELF} {
			if link, ok := d.Links[name]; ok {
				pinned, err := o.pin(link)
				if err != nil {
					return nil, fmt.Errorf("%s link of schema %s: %w", name, d.ID, err)
				}
				links[name] = pinned
			}
		}
		kept[d.ID] = client.Schema{
			Resource:          client.Resource{Id: d.ID, Type: d.Type, Links: links},
			PluralName:        d.PluralName,
			CollectionMethods: d.CollectionMethods,
			ResourceMethods:   d.ResourceMethods,
		}
	}
	return kept, nil
}
