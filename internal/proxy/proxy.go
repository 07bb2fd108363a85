// Package proxy chooses the proxy of a request by net/http's rules for HTTP_PROXY, HTTPS_PROXY and NO_PROXY (those
// of golang.org/x/net/http/httpproxy, which net/http vendors), over values handed in instead of the environment: the
// daemon can take a proxy URL from a file. It knows no variable names.
//
// It differs from net/http in one way: host names are compared as written, without turning internationalised names
// into their ASCII form (golang.org/x/net/idna would cost the binary 0.2 MB and the idle daemon 0.4 MB of memory for
// hosts no Rancher server or AWS endpoint has). proxy_test.go checks every other rule against httpproxy itself.
package proxy

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Config is what net/http reads from the environment.
type Config struct {
	// HTTPProxy and HTTPSProxy are the proxies of http and https requests (a URL; without a scheme, http).
	HTTPProxy, HTTPSProxy string
	// NoProxy lists, comma-separated, what is reached directly: "*", host names (and their subdomains; a leading
	// "." or "*." means subdomains only), IP addresses and CIDR ranges, each with an optional port.
	NoProxy string
	// CGI: the process serves a CGI request (REQUEST_METHOD is set), where HTTPProxy may come from a client's
	// "Proxy:" header and is refused.
	CGI bool
}

// Func returns the proxy of each request: nil for a direct one. localhost and loopback addresses are always
// reached directly, and a proxy URL that does not parse means no proxy, as in net/http.
func (c Config) Func() func(*http.Request) (*url.URL, error) {
	httpProxy, httpsProxy := parse(c.HTTPProxy), parse(c.HTTPSProxy)
	direct := parseNoProxy(c.NoProxy)
	return func(r *http.Request) (*url.URL, error) {
		var p *url.URL
		switch r.URL.Scheme {
		case "https":
			p = httpsProxy
		case "http":
			p = httpProxy
			if p != nil && c.CGI {
				return nil, errors.New("refusing to use the HTTP proxy in a CGI environment (golang.org/s/cgihttpproxy)")
			}
		}
		if p == nil || direct.match(r.URL) {
			return nil, nil
		}
		return p, nil
	}
}

// parse reads a proxy URL as net/http does: one without a scheme or host is tried again as http://; nil when it
// does not parse.
func parse(raw string) *url.URL {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if u2, err2 := url.Parse("http://" + raw); err2 == nil {
			return u2
		}
	}
	if err != nil {
		return nil
	}
	return u
}

// noProxy is a parsed NoProxy.
type noProxy struct {
	all     bool
	nets    []*net.IPNet
	ips     []ipEntry
	domains []domainEntry
}

type ipEntry struct {
	ip   net.IP
	port string
}

// domainEntry matches a host that ends with suffix (".example.com"); also the name itself (example.com) when the
// entry was written without a leading "." or "*.".
type domainEntry struct {
	suffix, port string
	name         bool
}

func parseNoProxy(s string) noProxy {
	var n noProxy
	for _, e := range strings.Split(s, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return noProxy{all: true}
		}
		if _, cidr, err := net.ParseCIDR(e); err == nil {
			n.nets = append(n.nets, cidr)
			continue
		}
		host, port, err := net.SplitHostPort(e)
		switch {
		case err != nil:
			host, port = e, ""
		case host == "":
			continue // ":80": no host, ignored
		}
		if ip := net.ParseIP(host); ip != nil {
			n.ips = append(n.ips, ipEntry{ip: ip, port: port})
			continue
		}
		if strings.HasPrefix(host, "*.") {
			host = host[1:]
		}
		d := domainEntry{suffix: host, port: port}
		if !strings.HasPrefix(host, ".") {
			d.suffix, d.name = "."+host, true
		}
		n.domains = append(n.domains, d)
	}
	return n
}

// match reports whether a request to u goes direct.
func (n noProxy) match(u *url.URL) bool {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	var ip net.IP
	if a, err := netip.ParseAddr(host); err == nil {
		ip = net.IP(a.AsSlice())
	}
	switch {
	case host == "localhost" || ip != nil && ip.IsLoopback() || n.all:
		return true
	case ip != nil:
		return n.matchIP(ip, port)
	}
	host = strings.ToLower(strings.TrimSpace(host))
	for _, d := range n.domains {
		if (strings.HasSuffix(host, d.suffix) || d.name && host == d.suffix[1:]) && (d.port == "" || d.port == port) {
			return true
		}
	}
	return false
}

func (n noProxy) matchIP(ip net.IP, port string) bool {
	for _, c := range n.nets {
		if c.Contains(ip) {
			return true
		}
	}
	for _, e := range n.ips {
		if e.ip.Equal(ip) && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}
