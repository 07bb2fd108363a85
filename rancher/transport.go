package rancher

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"
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

// strayError is the router's refusal to send a Rancher key outside the CATTLE_URL origin.
type strayError struct{ origin string }

func (e *strayError) Error() string {
	return fmt.Sprintf("refused to send the Rancher API key to %s, which is not the CATTLE_URL origin", truncate(e.origin))
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

// maxBody bounds every answer from Rancher: a page of 1,000 registries is about 1.5 MB, and go-rancher reads
// whole bodies into memory.
const maxBody = 32 << 20

// errBodyTooLarge is what reading past maxBody returns.
var errBodyTooLarge = fmt.Errorf("rancher's answer is larger than %d MiB", maxBody>>20)

// guard is the transport of one Rancher origin: it never lets a redirect through (net/http would follow it, and a
// write answered 301 would be re-sent as a GET that answers 200) and bounds every body.
type guard struct{ t *http.Transport }

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.t.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		_ = resp.Body.Close()
		return nil, newRedirectError(req.URL, resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.ContentLength > maxBody {
		_ = resp.Body.Close()
		return nil, errBodyTooLarge
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxBody}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the origin's transport.
func (g *guard) CloseIdleConnections() { g.t.CloseIdleConnections() }

// base is the transport behind the guard: its TLS, proxy and dial settings serve the event stream too.
func (g *guard) base() *http.Transport { return g.t }

// boundedBody fails with errBodyTooLarge once more than left bytes were read.
type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - int(-b.left), errBodyTooLarge
	}
	return n, err
}

// redirectError is a 3xx answer, which is never followed.
type redirectError struct {
	status   int
	location string // absolute, without user information or query; "" when the answer named none
}

func newRedirectError(from *url.URL, status int, location string) *redirectError {
	e := &redirectError{status: status}
	if u, err := from.Parse(location); err == nil && location != "" {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		e.location = truncate(u.String())
	}
	return e
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("rancher answered %d %s; %s", e.status, http.StatusText(e.status), e.hint())
}

func (e *redirectError) hint() string {
	if e.location == "" {
		return "CATTLE_URL answers with a redirect that names no location: the updater never follows redirects"
	}
	return fmt.Sprintf("CATTLE_URL answers with a redirect to %s: set CATTLE_URL to that (the updater never follows redirects)", e.location)
}

// settingsOf is what a transport depends on, as a comparable string.
func settingsOf(o Options) string {
	proxy := uintptr(0)
	if o.Proxy != nil {
		proxy = reflect.ValueOf(o.Proxy).Pointer()
	}
	return fmt.Sprintf("ca=%x insecure=%v timeout=%s conc=%d proxy=%x", sha256.Sum256(o.CAPEM), o.InsecureSkipVerify, o.Timeout, o.Concurrency, proxy)
}

// newTransport builds the transport of one Rancher server.
func newTransport(o Options) (*http.Transport, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(o.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(o.CAPEM) {
			return nil, errors.New("RANCHER_CA_CERT: the CA file has no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	if o.InsecureSkipVerify {
		tlsConfig.InsecureSkipVerify = true
	}
	proxy := o.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	conns := o.Concurrency*2 + 4
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
	}, nil
}
