package standin

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Proxy is a forward HTTP proxy on loopback for tests. It takes absolute-form requests, counts them by host,
// and sends them on with a transport of its own: never http.DefaultTransport, which package rancher routes.
// It also opens CONNECT tunnels (HTTPS, websockets), counted apart. A host in Resolve is sent to another address
// instead. A test can then name a stand-in by a host only the proxy can reach, which proves that no request
// bypassed the proxy.
type Proxy struct {
	URL     string
	resolve map[string]string
	srv     *httptest.Server
	forward *http.Transport
	mu      sync.Mutex
	hosts   map[string]int
	tunnels int
}

// NewProxy starts a proxy. resolve maps host:port as the client names it to the host:port to dial.
func NewProxy(resolve map[string]string) *Proxy {
	p := &Proxy{resolve: resolve, forward: &http.Transport{}, hosts: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.hosts[r.URL.Host]++
	p.mu.Unlock()
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Connection")
	if target, ok := p.resolve[r.URL.Host]; ok {
		out.URL.Host = target // the Host header still names what the client asked for
	}
	resp, err := p.forward.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// tunnel answers CONNECT: it dials the host (or what Resolve names for it) and copies both ways until either
// side closes.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.tunnels++
	p.mu.Unlock()
	target := r.Host
	if t, ok := p.resolve[target]; ok {
		target = t
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		_ = up.Close()
		return
	}
	_, _ = down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	go func() { _, _ = io.Copy(up, down); _ = up.Close() }()
	_, _ = io.Copy(down, up)
	_ = down.Close()
}

// Tunnels is how many CONNECT tunnels the proxy opened.
func (p *Proxy) Tunnels() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tunnels
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.forward.CloseIdleConnections()
}

// Requests is how many requests went through the proxy.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.hosts {
		n += c
	}
	return n
}

// Hosts is how many requests went through the proxy, by the host:port the client asked for.
func (p *Proxy) Hosts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.hosts))
	for h, c := range p.hosts {
		out[h] = c
	}
	return out
}

// Buffer collects output from concurrent writers, such as a daemon's log in a test.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
