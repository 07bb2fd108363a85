package ecrtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

// Registry hosts. Besides the ECR API, the stand-in answers as the registries themselves
// (https://<account>.dkr.ecr.<region>.amazonaws.com and the other ECR host shapes) for GET /v2/, with the rules
// of a Docker registry as ECR applies them:
//
//   - with "Authorization: Basic" of user AWS and a password this server issued for the registry's region and
//     not yet expired (by the server's clock, SetNow), it answers 200 "{}";
//   - otherwise, and for a registry whose account and region were denied (DenyRegistry: the principal may get
//     a token but may not use that registry), 401 with
//     `WWW-Authenticate: Basic realm="https://<host>/",service="ecr.amazonaws.com"` and "Not Authorized";
//   - every answer carries Docker-Distribution-Api-Version: registry/2.0; other /v2/... paths answer 404 once
//     authorised, other methods 405;
//   - a registry given a redirect (RedirectRegistry) answers every request with 307 and that Location, as a
//     hostile proxy or a misconfigured mirror would.
//
// Tests cannot resolve real ECR host names, so the registry hosts are reached the way a real network would offer
// them to a client that has no direct route: through a forward proxy. RegistryProxyURL is an HTTP proxy that
// accepts CONNECT <registry host>:443 (and nothing else) and serves TLS inside the tunnel, with a certificate
// minted for the host asked for (SNI) and signed by RegistryCAPEM. A client that uses HTTPS_PROXY and trusts that
// CA (AWS_CA_BUNDLE for the AWS SDK's client) reaches "https://<host>/v2/" unchanged: the code under test keeps
// its production path, a plain HTTPS GET. Loopback addresses (the ECR API and the Rancher stand-in) are never
// proxied by Go's HTTP_PROXY handling, so one HTTPS_PROXY serves a whole test.

// registryHostRE is every ECR registry host shape (as the ecr package lists them), for the stand-in's own use.
var registryHostRE = regexp.MustCompile(`^([0-9]{12})\.(?:dkr\.ecr|dkr\.ecr-fips|dkr-ecr|dkr-ecr-fips)\.` +
	`([a-z]{2,5}(?:-[a-z]+)+-[0-9]{1,2})\.` +
	`(?:amazonaws\.com|amazonaws\.com\.cn|on\.aws|on\.amazonwebservices\.com\.cn|c2s\.ic\.gov|sc2s\.sgov\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov|amazonaws\.eu)$`)

// RegistryRequest is the record of one request to a registry host.
type RegistryRequest struct {
	Host, Method, Path string
	Status             int
}

type registryHosts struct {
	proxyURL string
	caPEM    []byte
	proxy    *http.Server
	hosts    *http.Server
	conns    *connListener
	served   sync.WaitGroup

	mu       sync.Mutex
	ca       tls.Certificate
	certs    map[string]*tls.Certificate
	denied   map[string]bool   // account + "/" + region
	redirect map[string]string // account + "/" + region -> Location
	requests []RegistryRequest
}

// registries starts the registry side on first use.
func (s *Server) registries() *registryHosts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg != nil {
		return s.reg
	}
	if s.closed {
		panic("ecrtest: registry hosts used after Close")
	}
	ca, caPEM, err := standin.SelfSignedCert("ecrtest registries CA")
	if err != nil {
		panic("ecrtest: registry CA: " + err.Error())
	}
	rh := &registryHosts{caPEM: caPEM, ca: ca, certs: map[string]*tls.Certificate{}, denied: map[string]bool{},
		redirect: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("ecrtest: listen for the registry proxy: " + err.Error())
	}
	rh.proxyURL = "http://" + ln.Addr().String()
	rh.conns = &connListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}, GetCertificate: rh.certificate}
	rh.hosts = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveRegistry(rh, w, r) }),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		TLSConfig:         tlsConfig,
	}
	rh.proxy = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rh.connect(w, r, tlsConfig) }),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	rh.served.Add(2)
	go func() { defer rh.served.Done(); _ = rh.hosts.Serve(rh.conns) }()
	go func() { defer rh.served.Done(); _ = rh.proxy.Serve(ln) }()
	s.reg = rh
	return rh
}

func (s *Server) closeRegistries() {
	s.mu.Lock()
	rh := s.reg
	s.mu.Unlock()
	if rh == nil {
		return
	}
	_ = rh.proxy.Close()
	_ = rh.hosts.Close()
	_ = rh.conns.Close()
	rh.served.Wait()
}

// RegistryProxyURL is the URL of the forward proxy through which the registry hosts are reached (HTTPS_PROXY).
func (s *Server) RegistryProxyURL() string { return s.registries().proxyURL }

// RegistryProxy returns a proxy function (for http.Transport.Proxy) that sends requests to registry hosts
// through RegistryProxyURL and every other request directly, as HTTPS_PROXY does for a process whose other
// endpoints are on loopback.
func (s *Server) RegistryProxy() func(*http.Request) (*url.URL, error) {
	proxy, _ := url.Parse(s.registries().proxyURL)
	return func(r *http.Request) (*url.URL, error) {
		if registryHostRE.MatchString(strings.ToLower(r.URL.Hostname())) {
			return proxy, nil
		}
		return nil, nil
	}
}

// RegistryCAPEM is the PEM certificate of the CA that signs the registry hosts' certificates.
func (s *Server) RegistryCAPEM() []byte {
	return append([]byte(nil), s.registries().caPEM...)
}

// RegistryClient returns an HTTP client that reaches the registry hosts through the proxy and trusts their CA,
// and does not follow redirects.
func (s *Server) RegistryClient() *http.Client {
	rh := s.registries()
	proxy, _ := url.Parse(rh.proxyURL)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rh.caPEM)
	return &http.Client{
		Transport:     &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// DenyRegistry makes the registry of account in region refuse every token with 401, as ECR does for a principal
// that may get a token but may not use that registry (another account's registry without a policy for it).
func (s *Server) DenyRegistry(account, region string) {
	rh := s.registries()
	rh.mu.Lock()
	rh.denied[account+"/"+region] = true
	rh.mu.Unlock()
}

// AllowRegistry undoes DenyRegistry.
func (s *Server) AllowRegistry(account, region string) {
	rh := s.registries()
	rh.mu.Lock()
	delete(rh.denied, account+"/"+region)
	rh.mu.Unlock()
}

// RedirectRegistry makes the registry of account in region answer every request with 307 Temporary Redirect to
// location; "" undoes it.
func (s *Server) RedirectRegistry(account, region, location string) {
	rh := s.registries()
	rh.mu.Lock()
	if location == "" {
		delete(rh.redirect, account+"/"+region)
	} else {
		rh.redirect[account+"/"+region] = location
	}
	rh.mu.Unlock()
}

// RegistryRequests returns the requests the registry hosts answered, in order (CONNECTs refused by the proxy
// are recorded with Method CONNECT).
func (s *Server) RegistryRequests() []RegistryRequest {
	rh := s.registries()
	rh.mu.Lock()
	defer rh.mu.Unlock()
	return append([]RegistryRequest(nil), rh.requests...)
}

func (rh *registryHosts) record(r RegistryRequest) {
	rh.mu.Lock()
	rh.requests = append(rh.requests, r)
	rh.mu.Unlock()
}

// connect answers CONNECT <registry host>:443 and serves the tunnel as that host.
func (rh *registryHosts) connect(w http.ResponseWriter, r *http.Request, tlsConfig *tls.Config) {
	host, port, err := net.SplitHostPort(r.Host)
	if r.Method != http.MethodConnect || err != nil || port != "443" || !registryHostRE.MatchString(strings.ToLower(host)) {
		rh.record(RegistryRequest{Host: r.Host, Method: r.Method, Status: http.StatusForbidden})
		http.Error(w, "ecrtest: this proxy only tunnels to ECR registry hosts on port 443", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "ecrtest: cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		return
	}
	var c net.Conn = conn
	if buf != nil && buf.Reader.Buffered() > 0 {
		c = &bufferedConn{Conn: conn, r: buf.Reader}
	}
	if !rh.conns.push(tls.Server(c, tlsConfig)) {
		_ = conn.Close()
	}
}

// certificate mints (once per name) a certificate for the registry host the client names.
func (rh *registryHosts) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if !registryHostRE.MatchString(name) {
		return nil, fmt.Errorf("ecrtest: %q is not a registry host", name)
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if c, ok := rh.certs[name]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rh.ca.Leaf, &key.PublicKey, rh.ca.PrivateKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	rh.certs[name] = c
	return c, nil
}

// serveRegistry answers one request to a registry host.
func (s *Server) serveRegistry(rh *registryHosts, w http.ResponseWriter, r *http.Request) {
	host := ""
	if r.TLS != nil {
		host = strings.ToLower(r.TLS.ServerName)
	}
	status := 0
	defer func() { rh.record(RegistryRequest{Host: host, Method: r.Method, Path: r.URL.Path, Status: status}) }()
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	m := registryHostRE.FindStringSubmatch(host)
	reqHost := strings.TrimSuffix(strings.ToLower(r.Host), ":443")
	if m == nil || reqHost != host {
		status = http.StatusBadRequest
		http.Error(w, "ecrtest: the Host header does not name the TLS server name", status)
		return
	}
	account, region := m[1], m[2]
	_, latency, now := s.settings()
	if !s.wait(r.Context(), latency) {
		standin.Drop(w)
		return
	}
	rh.mu.Lock()
	location := rh.redirect[account+"/"+region]
	rh.mu.Unlock()
	if location != "" {
		status = http.StatusTemporaryRedirect
		w.Header().Set("Location", location)
		w.WriteHeader(status)
		return
	}
	if r.URL.Path != "/v2" && !strings.HasPrefix(r.URL.Path, "/v2/") {
		status = http.StatusNotFound
		http.Error(w, "404 page not found", status)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status = http.StatusMethodNotAllowed
		http.Error(w, "Method Not Allowed", status)
		return
	}
	if !s.registryAuthorized(rh, r, account, region, now()) {
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="https://`+host+`/",service="ecr.amazonaws.com"`)
		http.Error(w, "Not Authorized", status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.URL.Path != "/v2/" && r.URL.Path != "/v2" {
		status = http.StatusNotFound
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name does not exist in the registry"}]}`)
		return
	}
	status = http.StatusOK
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "{}")
}

// registryAuthorized reports whether the request carries user AWS and a password issued for region that has not
// expired at now, for a registry that is not denied.
func (s *Server) registryAuthorized(rh *registryHosts, r *http.Request, account, region string, now time.Time) bool {
	user, password, ok := r.BasicAuth()
	if !ok || user != "AWS" || password == "" {
		return false
	}
	rh.mu.Lock()
	denied := rh.denied[account+"/"+region]
	rh.mu.Unlock()
	if denied {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, is := range s.issued {
		if is.Password == password {
			return is.Region == region && now.Before(is.ExpiresAt)
		}
	}
	return false
}

// connListener hands the tunnels' connections to the registry hosts' HTTP server.
type connListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *connListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// bufferedConn reads what the proxy's reader had buffered before the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
