package proxy

import (
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// TestSameChoiceAsNetHTTP: for every proxy setting, NO_PROXY list and request URL below, Func chooses what
// golang.org/x/net/http/httpproxy (the rules net/http applies to the environment) chooses. Host names are ASCII:
// internationalised names are the one documented difference.
func TestSameChoiceAsNetHTTP(t *testing.T) {
	proxies := []struct{ http, https string }{
		{"http://proxy.example:3128", "http://user:p%40ss@secure-proxy.example:3129"},
		{"proxy.example:3128", "secure-proxy.example"}, // no scheme: http://
		{"", "socks5://socks.example:1080"},
		{"http://proxy.example:3128", ""},
		{"http://[::1", "::bad"}, // does not parse: no proxy
		{"", ""},
	}
	noProxies := []string{"", "*", "rancher.example.com", ".example.com", "*.example.com", "example.com:8443",
		"10.0.0.0/8, 192.168.1.7", "192.168.1.7:8080", "[2001:db8::1]:443", "2001:db8::/32", "[2001:db8::2]",
		"RANCHER.Example.COM , ,foo.test", "*foo.test", "169.254.169.254", ":80", "localhost", "a.com,*", "*.",
		"internal", ".internal:80", "example.com:bad:port"}
	urls := []string{"https://rancher.example.com/v2-beta", "http://rancher.example.com:8080/v1", "https://example.com:8443/x",
		"https://api.ecr.us-east-1.amazonaws.com/", "http://10.1.2.3:8080/v1", "https://192.168.1.7/", "http://192.168.1.7:8080/",
		"https://[2001:db8::1]/", "https://[2001:db8::1]:8443/", "https://[2001:db8::2]/", "http://169.254.169.254/latest/api/token",
		"http://localhost:8080/", "http://LOCALHOST/", "http://127.0.0.5/", "https://[::1]:443/", "https://sub.foo.test/",
		"https://foo.test/", "http://xfoo.test/", "https://RANCHER.EXAMPLE.COM/", "http://internal/", "http://a.internal/",
		"ws://rancher.example.com/", "https://[fe80::1%25eth0]/", "http://[::ffff:192.168.1.7]:8080/", "http://host.internal:80/"}
	n := 0
	for _, p := range proxies {
		for _, np := range noProxies {
			for _, cgi := range []bool{false, true} {
				ours := Config{HTTPProxy: p.http, HTTPSProxy: p.https, NoProxy: np, CGI: cgi}.Func()
				theirs := (&httpproxy.Config{HTTPProxy: p.http, HTTPSProxy: p.https, NoProxy: np, CGI: cgi}).ProxyFunc()
				for _, raw := range urls {
					req, err := http.NewRequest(http.MethodGet, raw, nil)
					if err != nil {
						t.Fatalf("%s: %v", raw, err)
					}
					got, gotErr := ours(req)
					want, wantErr := theirs(req.URL)
					if fmt.Sprint(got) != fmt.Sprint(want) || (gotErr == nil) != (wantErr == nil) {
						t.Errorf("proxies %q, NO_PROXY %q, CGI %v, %s: %v %v, net/http's rules say %v %v", p, np, cgi, raw, got, gotErr, want, wantErr)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d choices compared", n)
}
