package ranchertest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// noFollow sends a raw request without following redirects.
func noFollow(t *testing.T, method, u string, k key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(k.access, k.secret)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestLinkBase: every link and X-API-Schemas name the link base, as with Cattle's api.host; "" restores them.
func TestLinkBase(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	const base = "https://rancher.example.com:8443"
	w.s.SetLinkBase(base + "/")
	for _, path := range []string{"/v2-beta", "/v2-beta/schemas", "/v2-beta/projects/" + w.env1 + "/registries",
		"/v2-beta/projects/" + w.env1 + "/registrycredentials/" + w.cred1, "/v2-beta/projects"} {
		resp, b := do(t, http.MethodGet, w.s.URL+path+"?limit=1", w.user, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		if h := resp.Header.Get("X-API-Schemas"); !strings.HasPrefix(h, base+"/v2-beta/") {
			t.Errorf("GET %s: X-API-Schemas %q", path, h)
		}
		if n := strings.Count(string(b), "http://"); n != 0 || !strings.Contains(string(b), base+"/v2-beta") {
			t.Errorf("GET %s: %d links to the server itself, body %.300s", path, n, b)
		}
	}
	w.s.SetLinkBase("")
	if resp, _ := do(t, http.MethodGet, w.s.URL+"/v2-beta", w.user, ""); resp.Header.Get("X-API-Schemas") != w.s.URL+"/v2-beta/schemas" {
		t.Errorf("after SetLinkBase(\"\"): X-API-Schemas %q", resp.Header.Get("X-API-Schemas"))
	}
}

// TestRedirectFaults: a redirect answers with the status and a Location on the given origin (or the server's own)
// with the request's path and query; the write is not made.
func TestRedirectFaults(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	u := w.s.URL + "/v2-beta/projects/" + w.env1 + "/registrycredentials/" + w.cred1
	for _, x := range []struct {
		status int
		to     string
	}{{301, "http://127.0.0.1:1"}, {302, "https://elsewhere.example.com/"}, {307, ""}, {308, "https://127.0.0.1:2"}} {
		w.s.AddFault(Fault{Method: http.MethodPut, Redirect: x.status, RedirectTo: x.to, Times: 1})
		resp, _ := noFollow(t, http.MethodPut, u+"?x=1", w.envKey1, `{"secretValue":"new"}`)
		to := strings.TrimRight(x.to, "/")
		if to == "" {
			to = w.s.URL
		}
		if resp.StatusCode != x.status || resp.Header.Get("Location") != to+"/v2-beta/projects/"+w.env1+"/registrycredentials/"+w.cred1+"?x=1" {
			t.Errorf("redirect %d to %q: answered %d, Location %q", x.status, x.to, resp.StatusCode, resp.Header.Get("Location"))
		}
		if c, _ := w.s.Credential(w.cred1); c.SecretValue != "old1" {
			t.Errorf("redirect %d: the credential was written", x.status)
		}
	}
}

// TestLoopNextFault: a list's next link is its own URL.
func TestLoopNextFault(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	w.s.AddFault(Fault{PathContains: "/registries", LoopNext: true})
	u := w.s.URL + "/v2-beta/projects/" + w.env1 + "/registries?limit=5"
	_, b := do(t, http.MethodGet, u, w.envKey1, "")
	m := decode(t, b)
	if next := m["pagination"].(map[string]any)["next"]; next != u {
		t.Errorf("next = %v, want %s", next, u)
	}
}

// TestHugeBodyFault: the body is streamed, as long as asked, valid JSON, without Content-Length.
func TestHugeBodyFault(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	const n = 3 << 20
	w.s.AddFault(Fault{HugeBody: n, Times: 1})
	req, _ := http.NewRequest(http.MethodGet, w.s.URL+"/v2-beta/registries", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Errorf("Content-Length %d, want none", resp.ContentLength)
	}
	b, _ := io.ReadAll(resp.Body)
	if len(b) < n-64<<10 || len(b) > n+64<<10 {
		t.Errorf("body of %d bytes, want about %d", len(b), n)
	}
	if m := decode(t, b); m["resourceType"] != "registry" {
		t.Errorf("resourceType %v", m["resourceType"])
	}
}

// TestBodyAndEchoFaults: a Body fault answers that body; an Echo fault answers a Cattle error quoting the request.
func TestBodyAndEchoFaults(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	u := w.s.URL + "/v2-beta/projects/" + w.env1 + "/registrycredentials/" + w.cred1
	w.s.AddFault(Fault{Method: http.MethodGet, Body: `null`, Times: 1})
	if resp, b := do(t, http.MethodGet, u, w.envKey1, ""); resp.StatusCode != 200 || string(b) != "null" {
		t.Errorf("Body fault: %d %q", resp.StatusCode, b)
	}
	w.s.AddFault(Fault{Method: http.MethodPut, Echo: true, Times: 1})
	resp, b := do(t, http.MethodPut, u, w.envKey1, `{"secretValue":"pw\u003c/x"}`)
	m := decode(t, b)
	if resp.StatusCode != 422 || m["type"] != "error" || !strings.Contains(fmt.Sprint(m["message"]), `"secretValue":"pw\u003c/x"`) {
		t.Errorf("Echo fault: %d %s", resp.StatusCode, b)
	}
}

// TestElsewhere: Elsewhere records what reaches it (and relays to the stand-in when asked), and tells whether a
// secret was in the Authorization header or the body.
func TestElsewhere(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{TLS: true})
	el := NewElsewhere(w.s)
	defer el.Close()
	resp, b := do(t, http.MethodPut, el.URL+"/v2-beta/projects/"+w.env1+"/registrycredentials/"+w.cred1, w.envKey1, `{"secretValue":"stolen-pw"}`)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(w.cred1)) {
		t.Errorf("relayed PUT: %d %s", resp.StatusCode, b)
	}
	if c, _ := w.s.Credential(w.cred1); c.SecretValue != "stolen-pw" {
		t.Errorf("the relay did not reach the stand-in")
	}
	reqs := el.Requests()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPut || reqs[0].Authorization == "" {
		t.Fatalf("records = %+v", reqs)
	}
	if !el.Saw("stolen-pw") || !el.Saw(w.envKey1.secret) || el.Saw("never-sent") {
		t.Errorf("Saw: pw %v key %v other %v", el.Saw("stolen-pw"), el.Saw(w.envKey1.secret), el.Saw("never-sent"))
	}
	alone := NewElsewhere(nil)
	defer alone.Close()
	if resp, _ := do(t, http.MethodGet, alone.URL+"/v2-beta", key{}, ""); resp.StatusCode != 404 || len(alone.Requests()) != 1 {
		t.Errorf("Elsewhere without relay: %d, %d records", resp.StatusCode, len(alone.Requests()))
	}
}
