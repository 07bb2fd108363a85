package rancher

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// The transport of one Rancher origin: no redirects, bounded bodies, the Server's CA, TLS verification, proxy and
// timeouts. The router that puts it in go-rancher's path (as http.DefaultTransport) is in gorancher.go.

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

// hint says what to do.
func (e *redirectError) hint() string {
	urlName := setting.URL.String()
	if e.location == "" {
		return urlName + " answers with a redirect that names no location: the updater never follows redirects"
	}
	return fmt.Sprintf("%s answers with a redirect to %s: set %s to that (the updater never follows redirects)", urlName, e.location, urlName)
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
			return nil, fmt.Errorf("%s: the CA file has no PEM certificate", setting.CACert)
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
