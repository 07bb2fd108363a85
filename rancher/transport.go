package rancher

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"
)

// go-rancher v2 builds a new http.Client on http.DefaultTransport for every call and offers no hook for a CA,
// TLS verification, proxies or connection limits. So this package installs, once per process, a router as
// http.DefaultTransport: requests to a host that a Server registered go through that Server's own transport;
// every other request goes through the transport that was there before. This is the one piece of process-wide
// state in the project, and nothing else in the process depends on the default transport.
type router struct {
	fallback http.RoundTripper
	mu       sync.RWMutex
	routes   map[string]*route
}

type route struct {
	transport *http.Transport
	settings  string // what the transport was built from; a second Server to the host must agree
	refs      int
}

var (
	installOnce sync.Once
	theRouter   *router
)

func installRouter() *router {
	installOnce.Do(func() {
		theRouter = &router{fallback: http.DefaultTransport, routes: map[string]*route{}}
		http.DefaultTransport = theRouter
	})
	return theRouter
}

func routeKey(scheme, host string) string { return strings.ToLower(scheme + "://" + host) }

// RoundTrip implements http.RoundTripper.
func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.RLock()
	rt, ok := r.routes[routeKey(req.URL.Scheme, req.URL.Host)]
	r.mu.RUnlock()
	if ok {
		return rt.transport.RoundTrip(req)
	}
	return r.fallback.RoundTrip(req)
}

// register sends every request to scheme://host through a transport built from o, until release is called.
// Servers to the same host share the transport when their settings agree; a Server whose settings differ from
// one still open is refused, since requests to one host cannot be told apart.
func (r *router) register(scheme, host string, o Options) (t *http.Transport, release func(), err error) {
	key, settings := routeKey(scheme, host), settingsOf(o)
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
		rt = &route{transport: t, settings: settings, refs: 1}
		r.routes[key] = rt
	}
	var once sync.Once
	return rt.transport, func() {
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
