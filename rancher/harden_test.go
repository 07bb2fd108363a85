package rancher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/redact"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// These tests play a hostile or misconfigured Rancher against the real go-rancher client: links naming another
// origin, redirects, looping pages, huge bodies, answers of the wrong shape, errors echoing the request.

// leaks reports whether text holds any 12 consecutive bytes of the secret, plain or JSON-escaped.
func leaks(text string, secret redact.Secret) bool {
	for _, form := range []string{secret.Reveal(), strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, `"`, `\"`).Replace(secret.Reveal())} {
		for i := 0; i+12 <= len(form); i++ {
			if strings.Contains(text, form[i:i+12]) {
				return true
			}
		}
	}
	return false
}

// noStray fails the test if anything reached the elsewhere listener.
func noStray(t *testing.T, el *ranchertest.Elsewhere) {
	t.Helper()
	for _, r := range el.Requests() {
		t.Errorf("%s %s?%s reached another origin (Authorization %v, %d bytes of body)", r.Method, r.Path, r.RawQuery,
			r.Authorization != "", len(r.Body))
	}
}

// exercise runs every operation of the package against an Environment API Endpoint of A (with the account key)
// and the account's /v2-beta, with pages of 1 so that next links are followed, and checks that they worked and
// wrote to the stand-in.
func exercise(t *testing.T, w *world, o Options) {
	t.Helper()
	ctx := context.Background()
	o.PageSize = 1
	w.srv.AddRegistry(w.envA, ecrHost2, "")
	s := dial(t, o)
	e := open(t, s, "")
	if regs := registries(t, e); len(regs) != 2 {
		t.Errorf("Registries = %+v, want 2 (over two pages)", regs)
	}
	c := credentialByID(t, e, w.credA)
	pw := password()
	if err := e.UpdateCredential(ctx, c, "AWS", pw); err != nil {
		t.Fatalf("UpdateCredential: %s", errText(t, err))
	}
	if got := secretOf(t, w.srv, w.credA); got != pw.Reveal() {
		t.Errorf("stored secret = %q, want the one written", got)
	}
	reg, err := e.CreateRegistry(ctx, "333333333333.dkr.ecr.eu-west-1.amazonaws.com")
	if err != nil {
		t.Fatalf("CreateRegistry: %s", errText(t, err))
	}
	created, err := e.CreateCredential(ctx, reg.ID, "AWS", password())
	if err != nil {
		t.Fatalf("CreateCredential: %s", errText(t, err))
	}
	// A credential created now is updated through the self link of the create answer.
	if err := e.UpdateCredential(ctx, created, "AWS", password()); err != nil {
		t.Fatalf("UpdateCredential of a created credential: %s", errText(t, err))
	}
	envs, err := s.Environments(ctx)
	if err != nil || len(envs) != 2 {
		t.Errorf("Environments = %+v, %s; want A and B", envs, errText(t, err))
	}
	if _, err := s.Open(ctx, w.envB); err != nil {
		t.Errorf("Open(B): %s", errText(t, err))
	}
}

// TestLinksPinnedToOrigin: Rancher's api.host names another origin, so every link and X-API-Schemas does. The
// updater keeps working, through the CATTLE_URL origin only: the other origin (a relay to the real server, as an
// attacker in the middle would run) receives nothing, neither the key nor a password.
func TestLinksPinnedToOrigin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	el := ranchertest.NewElsewhere(w.srv)
	t.Cleanup(el.Close)
	w.srv.SetLinkBase(el.URL)
	exercise(t, w, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
	noStray(t, el)
	for _, r := range w.srv.Requests() {
		if r.AccessKey != userKey {
			t.Errorf("%s %s reached the server without the key", r.Method, r.Path)
		}
	}
}

// TestHTTPSNeverDowngraded: with an https CATTLE_URL and links that say http:// (a TLS-terminating proxy that does
// not pass X-Forwarded-Proto), nothing is sent in clear text: everything goes over TLS to the origin.
func TestHTTPSNeverDowngraded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{TLS: true})
	el := ranchertest.NewElsewhere(w.srv) // plain HTTP: whatever reaches it went in clear text
	t.Cleanup(el.Close)
	w.srv.SetLinkBase(el.URL)
	o := w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret)
	o.CAPEM = w.srv.CAPEM()
	exercise(t, w, o)
	noStray(t, el)
}

// TestPathPrefixKept: Rancher served under a path prefix by a proxy; Cattle's links do not know the prefix, and
// the updater adds it.
func TestPathPrefixKept(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	target, _ := url.Parse(w.srv.URL)
	// A transport of its own: through the default one, the router would refuse to pass the key on.
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }, Transport: &http.Transport{}}
	var unprefixed atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p, ok := strings.CutPrefix(r.URL.Path, "/rancher/")
		if !ok {
			unprefixed.Add(1)
			http.NotFound(rw, r)
			return
		}
		r.URL.Path, r.URL.RawPath = "/"+p, ""
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(proxy.Close)
	el := ranchertest.NewElsewhere(nil)
	t.Cleanup(el.Close)
	w.srv.SetLinkBase(el.URL)
	o := Options{Endpoint: endpoint(proxy.URL + "/rancher/v2-beta/projects/" + w.envA), AccessKey: userKey, SecretKey: redact.Secret(userSecret)}
	exercise(t, w, o)
	noStray(t, el)
	if n := unprefixed.Load(); n != 0 {
		t.Errorf("%d requests lost the /rancher prefix", n)
	}
}

// TestRouterRefusesStrayKey: defence in depth. A request that carries a registered Rancher key to an origin that
// no Server registered is refused by the default transport, whoever builds it; other requests pass.
func TestRouterRefusesStrayKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	dial(t, w.opts("", envKeyA, envSecretA))
	el := ranchertest.NewElsewhere(nil)
	t.Cleanup(el.Close)

	for _, u := range []string{el.URL + "/v2-beta", strings.Replace(w.srv.URL, "http://", "https://", 1) + "/v2-beta"} {
		req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(`{"secretValue":"x"}`))
		req.SetBasicAuth("someone-else", envSecretA)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("PUT %s with the Rancher key answered %d, want a refusal", u, resp.StatusCode)
		} else if msg := errText(t, err); !strings.Contains(msg, "not the origin of the Rancher URL") {
			t.Errorf("PUT %s with the Rancher key = %q, want a refusal", u, msg)
		}
	}
	// Without the key, the request is none of the router's business.
	resp, err := http.Get(el.URL + "/other")
	if err != nil {
		t.Fatalf("GET without a key: %v", err)
	}
	resp.Body.Close()
	if got := len(el.Requests()); got != 1 {
		t.Errorf("elsewhere saw %d requests, want only the one without a key", got)
	}
	if el.Saw(envSecretA) {
		t.Error("the key reached another origin")
	}
}

// TestRedirects: no request follows a redirect, whatever the status, the method and where it points; the error
// names the location and says what to set; a write answered with a redirect is a failed write and nothing reaches
// the location.
func TestRedirects(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	el := ranchertest.NewElsewhere(w.srv)
	t.Cleanup(el.Close)
	httpsSame := strings.Replace(w.srv.URL, "http://", "https://", 1)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
	e := open(t, s, "")
	c := credentialByID(t, e, w.credA)
	ctx := context.Background()

	for _, status := range []int{301, 302, 307, 308} {
		for _, to := range []string{el.URL, httpsSame} {
			name := fmt.Sprintf("%d to %s", status, to)
			check := func(what string, err error) {
				t.Helper()
				msg := errText(t, err)
				want := "the Rancher URL answers with a redirect to " + to
				if err == nil || !strings.Contains(msg, want) || !strings.Contains(msg, "set the Rancher URL to that") {
					t.Errorf("%s, %s = %q, want an error containing %q", name, what, msg, want)
				}
			}
			before := secretOf(t, w.srv, w.credA)
			w.srv.AddFault(ranchertest.Fault{Method: http.MethodPut, Redirect: status, RedirectTo: to, Times: 1})
			check("UpdateCredential", e.UpdateCredential(ctx, c, "AWS", password()))
			if got := secretOf(t, w.srv, w.credA); got != before {
				t.Errorf("%s: the stored secret changed", name)
			}

			w.srv.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: "/registries", Redirect: status, RedirectTo: to, Times: 1})
			_, err := e.Registries(ctx)
			check("Registries", err)

			w.srv.AddFault(ranchertest.Fault{Method: http.MethodPost, Redirect: status, RedirectTo: to, Times: 1})
			_, err = e.CreateCredential(ctx, w.regA, "AWS", password())
			check("CreateCredential", err)

			w.srv.AddFault(ranchertest.Fault{PathContains: "/schemas", Redirect: status, RedirectTo: to, Times: 1})
			_, err = s.Open(ctx, w.envB)
			check("Open", err)

			w.srv.AddFault(ranchertest.Fault{Redirect: status, RedirectTo: to, Times: 1})
			_, err = Dial(ctx, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
			check("Dial", err)
		}
	}
	noStray(t, el)
	if n := len(w.srv.Credentials(w.envA)); n != 1 {
		t.Errorf("environment A has %d credentials, want the one it had", n)
	}
}

// TestLoopingNext: a next link that leads back to the page just read is an error after one repeat, not 1,000
// pages.
func TestLoopingNext(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
	e := open(t, s, "")
	for _, x := range []struct {
		path string
		list func() error
	}{
		{"/registries", func() error { _, err := e.Registries(context.Background()); return err }},
		{"/registrycredentials", func() error { _, err := e.Credentials(context.Background()); return err }},
		{"/projects", func() error { _, err := s.Environments(context.Background()); return err }},
	} {
		w.srv.AddFault(ranchertest.Fault{PathContains: x.path, LoopNext: true})
		n := w.srv.RequestCount()
		err := x.list()
		if msg := errText(t, err); err == nil || !strings.Contains(msg, "loop") {
			t.Errorf("%s with a looping next link = %q, want a loop error", x.path, msg)
		}
		if got := w.srv.RequestCount() - n; got > 3 {
			t.Errorf("%s with a looping next link made %d requests, want at most 3", x.path, got)
		}
		w.srv.ClearFaults()
	}
}

// TestHugeBody: a 100 MB answer (streamed, as from a broken proxy) is cut at 32 MiB with a clear error, and the
// live heap stays bounded while it is read.
func TestHugeBody(t *testing.T) {
	// Not parallel: it measures the heap.
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
	e := open(t, s, "")
	const huge = 100 << 20

	peak := sampleHeap()
	for _, x := range []struct {
		what, path string
		f          func() error
	}{
		{"Registries", "/registries", func() error { _, err := e.Registries(context.Background()); return err }},
		{"Open", "/schemas", func() error { _, err := s.Open(context.Background(), w.envB); return err }},
		{"Dial", "/v2-beta", func() error {
			_, err := Dial(context.Background(), w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
			return err
		}},
	} {
		w.srv.AddFault(ranchertest.Fault{PathContains: x.path, HugeBody: huge, Times: 1})
		err := x.f()
		if msg := errText(t, err); err == nil || !strings.Contains(msg, "larger than 32 MiB") {
			t.Errorf("%s with a 100 MB answer = %q, want a size error", x.what, msg)
		}
		t.Logf("%s: peak heap so far %d MB", x.what, peak.live.Load()>>20)
	}
	peak.stop()
	t.Logf("peak heap while reading 100 MB answers: %d MB", peak.live.Load()>>20)
	// go-rancher reads a list with io.ReadAll, which holds the 32 MiB read in growing chunks and then copies them
	// into one slice before returning the error: 64 to about 105 MB, whatever the size of the answer. Reading the
	// whole 100 MB answer costs twice its size at least.
	if p := peak.live.Load(); p > 128<<20 {
		t.Errorf("peak heap %d MB while reading 100 MB answers, want it bounded by the 32 MiB cap (under 128 MB)", p>>20)
	}
}

// heapPeak is the highest heap seen by sampleHeap: live after a collection (what the code holds, not the garbage
// the collector has yet to reclaim).
type heapPeak struct {
	live atomic.Uint64
	stop func()
}

// sampleHeap samples the heap every 2 ms, with a collection before each sample, until stop.
func sampleHeap() *heapPeak {
	p := &heapPeak{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > p.live.Load() {
				p.live.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	p.stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	return p
}

// TestListBoundedAsAWhole: every page under the 32 MiB bound of one answer, 30 pages of 19.5 MiB, cannot make one
// list hold more than its bounds (maxItems, maxListBytes), and decoding a page costs about its own size, whatever
// its items: tiny items (each once a whole go-rancher struct), items of one long field (kept), empty objects.
func TestListBoundedAsAWhole(t *testing.T) {
	// Not parallel: it measures the heap.
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	const page = 19*(1<<20) + 1<<19
	long := `{"id":"1sp1","type":"registry","state":"active","accountId":"` + w.envA + `","serverAddress":"` +
		strings.Repeat("r", 16<<10) + `.example.com"}`
	for _, x := range []struct {
		what, item, err string
	}{
		{"tiny items", `{"id":"1sp1","type":"registry"}`, fmt.Sprintf("more than %d items", maxItems)},
		{"16 KiB addresses", long, fmt.Sprintf("more than %d MiB", maxListBytes>>20)},
		{"empty objects", `{}`, `item 0 of rancher's list of registry is a ""`},
	} {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		w.srv.ResetRequests()
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: "/registries", HugeBody: page, HugeItem: x.item,
			HugeNext: true, Times: 30})
		peak := sampleHeap()
		start := time.Now()
		_, err := e.Registries(context.Background())
		peak.stop()
		w.srv.ClearFaults()
		msg := errText(t, err)
		grown := int64(peak.live.Load()) - int64(before.HeapAlloc)
		t.Logf("%s: %d pages of %.1f MiB read in %v, peak live heap +%d MB: %s", x.what, w.srv.RequestCount(), float64(page)/(1<<20),
			time.Since(start).Round(time.Millisecond), grown>>20, msg)
		if err == nil || !strings.Contains(msg, x.err) {
			t.Errorf("%s: err = %q, want %q", x.what, msg, x.err)
		}
		// A page read whole by go-rancher (about twice its size while io.ReadAll grows its buffer), what the list
		// holds (under maxListBytes), and the page being decoded.
		if grown > 160<<20 {
			t.Errorf("%s: the heap grew by %d MB reading pages of 19.5 MiB, want under 160 MB", x.what, grown>>20)
		}
	}
}

// TestNonCollectionAnswers: a 200 that is not a collection of what was asked for is a failed read with a clear
// error, never an empty list; a write answered with something else than the resource written is a failed write.
func TestNonCollectionAnswers(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, userKey, userSecret))
	e := open(t, s, "")
	c := credentialByID(t, e, w.credA)
	ctx := context.Background()
	bodies := []string{
		`{}`,
		`null`,
		`[]`,
		`{"type":"collection","resourceType":"%s","data":null}`,
		`{"type":"collection","resourceType":"%s"}`,
		`{"id":"x","type":"error","status":500,"code":"ServerError","message":"oops"}`,
		`{"type":"collection","resourceType":"somethingElse","data":[]}`,
		`{"type":"list","resourceType":"%s","data":[]}`,
		`{"type":"collection","resourceType":"%s","data":[{"id":"1x1","type":"somethingElse"}]}`,
	}
	for _, x := range []struct {
		path, typ string
		f         func() error
	}{
		{"/registries", "registry", func() error { _, err := e.Registries(ctx); return err }},
		{"/registrycredentials", "registryCredential", func() error { _, err := e.Credentials(ctx); return err }},
		{"/projects", "project", func() error { _, err := s.Environments(ctx); return err }},
		{"/schemas", "schema", func() error { _, err := s.Open(ctx, w.envB); return err }},
	} {
		for _, b := range bodies {
			if strings.Contains(b, "%s") {
				b = fmt.Sprintf(b, x.typ)
			}
			w.srv.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: x.path, Body: b, Times: 1})
			err := x.f()
			if msg := errText(t, err); err == nil || msg == "" {
				t.Errorf("GET %s answered %s: err = %q, want a failed read", x.path, b, msg)
			}
		}
		w.srv.ClearFaults()
	}
	// Writes answered 200 with something else than what was written.
	for _, b := range []string{`{}`, `null`, `{"id":"x","type":"error","status":422,"code":"Invalid"}`, `{"id":"","type":"registryCredential"}`} {
		before := secretOf(t, w.srv, w.credA)
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodPut, Body: b, Times: 1})
		if err := e.UpdateCredential(ctx, c, "AWS", password()); err == nil {
			t.Errorf("UpdateCredential answered %s succeeded", b)
		}
		if secretOf(t, w.srv, w.credA) != before {
			t.Errorf("the stand-in wrote despite the fault")
		}
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodPost, Body: b, Status: http.StatusCreated, Times: 2})
		if _, err := e.CreateCredential(ctx, w.regA, "AWS", password()); err == nil {
			t.Errorf("CreateCredential answered %s succeeded", b)
		}
		if _, err := e.CreateRegistry(ctx, ecrHost2); err == nil {
			t.Errorf("CreateRegistry answered %s succeeded", b)
		}
	}
}

// TestErrorsCarryNoSecretNorBody: an error answer that echoes the request (the password, JSON-escaped or not) and
// an answer go-rancher cannot parse (which it quotes whole) give errors with neither the secrets nor the body.
func TestErrorsCarryNoSecretNorBody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	c := credentialByID(t, e, w.credA)
	ctx := context.Background()

	for _, pw := range []redact.Secret{
		password(),
		redact.Secret("s3cr3t/with<html>&\"quotes\"" + strings.Repeat("x", 300)), // escaped by JSON, longer than any cut
		redact.Secret(strings.Repeat("y", 190) + "s3cr3t-tail"),                  // starts inside the first 200 characters
	} {
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodPut, Echo: true, Times: 1})
		err := e.UpdateCredential(ctx, c, "AWS", pw)
		msg := errText(t, err)
		if err == nil || StatusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(msg, redact.Marker) || leaks(msg, pw) {
			t.Errorf("UpdateCredential answered with an echo = %q, want a 422 with the password scrubbed", msg)
		}
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodPost, Echo: true, Times: 1})
		_, err = e.CreateCredential(ctx, w.regA, "AWS", pw)
		if msg := errText(t, err); err == nil || !strings.Contains(msg, redact.Marker) || leaks(msg, pw) {
			t.Errorf("CreateCredential answered with an echo = %q, want the password scrubbed", msg)
		}
	}
	// A server that echoes the Authorization header (the secret key) in its message.
	w.srv.AddFault(ranchertest.Fault{Method: http.MethodGet, Status: 400, Body: `{"type":"error","status":400,"code":"Bad","message":"key ` + envSecretA + `"}`, Times: 1})
	_, err := e.Registries(ctx)
	if msg := errText(t, err); err == nil || !strings.Contains(msg, redact.Marker) {
		t.Errorf("Registries answered with the key echoed = %q, want it scrubbed", msg)
	}

	// Bodies go-rancher cannot parse: it quotes them whole in its error.
	const mark = "BODY-MARK-7f3a"
	for _, b := range []string{`<html>` + mark + `</html>`, `{"type":"collection","data":"` + mark + `"}`, `{"data":[` + mark} {
		w.srv.AddFault(ranchertest.Fault{Method: http.MethodGet, Body: b, Times: 1})
		_, err := e.Registries(ctx)
		if msg := errText(t, err); err == nil || strings.Contains(msg, mark) || strings.Contains(fmt.Sprintf("%#v", err), mark) {
			t.Errorf("Registries answered %s: err = %q, want a failed read without the body", b, msg)
		}
	}
}

// TestEndlessList: a server whose next links never repeat but never end is stopped after 1,000 pages.
func TestEndlessList(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	// Each list request gets a page of one registry whose next link names the page after it.
	var page atomic.Int64
	w.srv.OnRequest(func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/registries") {
			n := page.Add(1)
			w.srv.AddFault(ranchertest.Fault{Times: 1, Body: fmt.Sprintf(`{"type":"collection","resourceType":"registry",`+
				`"data":[{"id":"1sp%d","type":"registry","serverAddress":"r%d.example.com"}],`+
				`"pagination":{"next":"http://elsewhere.example.com/v2-beta/projects/%s/registries?marker=m%d"}}`, n, n, w.envA, n)})
		}
	})
	_, err := e.Registries(context.Background())
	if msg := errText(t, err); err == nil || !strings.Contains(msg, "past 1000 pages") {
		t.Errorf("Registries of an endless list = %q, want a page-count error", msg)
	}
	if got := page.Load(); got != maxPages {
		t.Errorf("read %d pages, want %d", got, maxPages)
	}
}

// TestCloseIdleConnections: between passes, the server's idle connections are closed (the route's guard passes it
// on to the transport).
func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	var mu sync.Mutex
	var addrs []string
	w.srv.OnRequest(func(r *http.Request) {
		mu.Lock()
		addrs = append(addrs, r.RemoteAddr)
		mu.Unlock()
	})
	registries(t, e)
	registries(t, e)
	s.CloseIdleConnections()
	registries(t, e)
	mu.Lock()
	defer mu.Unlock()
	if len(addrs) != 3 || addrs[0] != addrs[1] || addrs[1] == addrs[2] {
		t.Errorf("client addresses %v: want one connection kept alive, then a new one after CloseIdleConnections", addrs)
	}
}
