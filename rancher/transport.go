package rancher

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
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

// register sends every request to scheme://host through t until release is called.
func (r *router) register(scheme, host string, t *http.Transport) (release func()) {
	key := routeKey(scheme, host)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.routes[key]; ok {
		old.refs++
		old.transport = t
	} else {
		r.routes[key] = &route{transport: t, refs: 1}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if rt, ok := r.routes[key]; ok {
				rt.refs--
				if rt.refs == 0 {
					delete(r.routes, key)
				}
			}
			t.CloseIdleConnections()
		})
	}
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
			return nil, errors.New("the CA file has no PEM certificate")
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
