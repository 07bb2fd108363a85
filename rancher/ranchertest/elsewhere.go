package ranchertest

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Elsewhere is a second listener on 127.0.0.1 (plain HTTP) standing for a host that is not the Rancher origin: the
// host a hostile link, a misconfigured api.host or a redirect names. It records every request that reaches it, so
// that a test can assert that nothing (above all no key and no password) was sent there. With a relay Server, it
// forwards each request to it, Authorization included, as an attacker in the middle would: a client that
// follows links to Elsewhere then works as if nothing were wrong, which is what makes such a leak silent.
type Elsewhere struct {
	URL string // origin, e.g. "http://127.0.0.1:41235"

	srv *httptest.Server

	mu   sync.Mutex
	reqs []StrayRequest
}

// StrayRequest is the record of one request that reached Elsewhere.
type StrayRequest struct {
	Method, Path, RawQuery string
	Authorization          string // the Authorization header as sent ("" when none)
	Body                   []byte
}

// Contains reports whether the request carried secret anywhere: in its URL, its Authorization header (Basic
// credentials decoded too) or its body.
func (r StrayRequest) Contains(secret string) bool {
	if secret == "" {
		return false
	}
	if strings.Contains(r.Path, secret) || strings.Contains(r.RawQuery, secret) ||
		strings.Contains(r.Authorization, secret) || bytes.Contains(r.Body, []byte(secret)) {
		return true
	}
	if rest, ok := strings.CutPrefix(r.Authorization, "Basic "); ok {
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest)); err == nil {
			return bytes.Contains(dec, []byte(secret))
		}
	}
	return false
}

// NewElsewhere starts an Elsewhere. relay nil answers every request 404 with a Cattle error body.
func NewElsewhere(relay *Server) *Elsewhere {
	e := &Elsewhere{}
	var next http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		enc := getEnc(false)
		writeError(enc, newUUID(), http.StatusNotFound, "NotFound", "Not Found", "")
		reply(w, http.StatusNotFound, enc)
	})
	if relay != nil {
		target, _ := url.Parse(relay.URL)
		next = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
			// The relay trusts the stand-in whatever its certificate: it only ever talks to it, on loopback.
			Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
			ErrorLog:  log.New(io.Discard, "", 0),
		}
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		e.mu.Lock()
		e.reqs = append(e.reqs, StrayRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Authorization: r.Header.Get("Authorization"), Body: body})
		e.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	}))
	e.URL = e.srv.URL
	return e
}

// Requests returns the records of every request that reached Elsewhere, oldest first.
func (e *Elsewhere) Requests() []StrayRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]StrayRequest(nil), e.reqs...)
}

// Saw reports whether any request that reached Elsewhere carried secret (see StrayRequest.Contains).
func (e *Elsewhere) Saw(secret string) bool {
	for _, r := range e.Requests() {
		if r.Contains(secret) {
			return true
		}
	}
	return false
}

// Close stops the listener.
func (e *Elsewhere) Close() { e.srv.Close() }
