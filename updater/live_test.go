package updater

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// getLive reads /livez: its status code and body.
func getLive(t *testing.T, base string) (int, LiveStatus) {
	t.Helper()
	resp, err := http.Get(base + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s LiveStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("/livez body: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/livez Content-Type %q", ct)
	}
	return resp.StatusCode, s
}

// TestLiveDeadlines: /livez fails only when the loop is not heard from LiveSlack after its deadline: the start
// for the first pass, the deadline of the pass in flight, then the later of the next pass's due time and the end
// of the last pass. The outcome of the passes (failing, degraded) never changes it.
func TestLiveDeadlines(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	h := NewHealth(clock)
	srv := httptest.NewServer(Handler(h, nil))
	defer srv.Close()

	// at moves the clock and says whether /livez answers 200, with the error of a 503 containing want.
	at := func(when time.Time, alive bool, want string) {
		t.Helper()
		clock.advanceTo(when)
		code, s := getLive(t, srv.URL)
		if ok, direct := h.Live(); ok != alive || direct != s {
			t.Errorf("at +%s: Live() %v %+v, /livez %+v", when.Sub(t0), ok, direct, s)
		}
		switch {
		case alive && (code != 200 || s.Status != "alive" || s.Error != ""):
			t.Errorf("at +%s: /livez %d %+v, want 200 alive", when.Sub(t0), code, s)
		case !alive && (code != 503 || s.Status != "wedged" || !strings.Contains(s.Error, want)):
			t.Errorf("at +%s: /livez %d %+v, want 503 wedged with %q", when.Sub(t0), code, s, want)
		}
	}

	// Before the first pass: it is due at once.
	at(t0, true, "")
	at(t0.Add(LiveSlack), true, "")
	at(t0.Add(LiveSlack+time.Second), false, "the first pass has not started: due at 2026-11-28T00:00:00Z")

	// A pass in flight: connect's deadline, then the pass budget.
	start := clock.Now()
	h.passStarted(start.Add(100 * time.Second))
	at(start.Add(100*time.Second+LiveSlack), true, "")
	at(start.Add(100*time.Second+LiveSlack+time.Second), false, "the pass in flight has not ended by its deadline")
	h.passStarted(start.Add(time.Hour))
	at(start.Add(time.Hour+LiveSlack), true, "")

	// A failing pass ends it; the next pass is due in 2 minutes. Failing is no reason to be restarted.
	end := clock.Now()
	h.passDone(end, StatusFailing, nil, "rancher answered 401", end.Add(2*time.Minute))
	if ok, s := h.Status(); ok || s.Status != StatusFailing {
		t.Fatalf("/healthz state %v %+v, want failing", ok, s)
	}
	at(end.Add(2*time.Minute+LiveSlack), true, "")
	at(end.Add(2*time.Minute+LiveSlack+time.Second), false, "the pass due at "+stamp(end.Add(2*time.Minute))+" has not started")

	// A pass that ended after the next was due (a small pass ran over it): the next must start after it.
	end = clock.Now()
	h.passDone(end, StatusDegraded, []Problem{{Env: "1a5", Reason: ReasonRead}}, "", end.Add(-time.Minute))
	at(end.Add(LiveSlack), true, "")
	at(end.Add(LiveSlack+time.Second), false, "no pass has started since the last one ended at "+stamp(end))

	// A scheduled pass 6 hours later.
	h.passStarted(clock.Now().Add(time.Minute))
	end = clock.Now()
	h.passDone(end, StatusOK, nil, "", end.Add(6*time.Hour))
	at(end.Add(6*time.Hour+LiveSlack), true, "")
	at(end.Add(6*time.Hour+LiveSlack+time.Second), false, "the pass due at")
	if err := Probe(context.Background(), srv.URL+"/livez"); err == nil || !strings.Contains(err.Error(), `503, status "wedged"`) ||
		!strings.Contains(err.Error(), "the pass due at") {
		t.Errorf("Probe of a wedged /livez: %v", err)
	}
}

// TestLivezStaysUpWhileCredentialsFail: Rancher refuses the key, so every pass fails and /healthz says so (503);
// /livez stays 200 through half an hour of retries, because a restart cannot fix a key.
func TestLivezStaysUpWhileCredentialsFail(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	cfg := w.config()
	cfg.Rancher.SecretKey = "not-the-secret"
	l := w.startLoop(t, cfg)
	srv := httptest.NewServer(Handler(l.u.Health(), nil))
	defer srv.Close()
	begin, retries := l.clock.Now(), 0
	for l.clock.Now().Sub(begin) < 30*time.Minute {
		wake := l.next(t)
		if l.last().OK() || !strings.Contains(l.last().firstError(), "401") {
			t.Fatalf("pass %d: %v, want a 401", retries+1, l.last().firstError())
		}
		if code := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable {
			t.Errorf("/healthz %d while every pass fails", code)
		}
		if code, s := getLive(t, srv.URL); code != http.StatusOK {
			t.Fatalf("/livez %d %+v after %s of failing passes", code, s, l.clock.Now().Sub(begin))
		}
		l.clock.advanceTo(wake)
		retries++
	}
	t.Logf("%d failing passes in 30 minutes: /healthz 503, /livez 200 throughout", retries)
}

// TestLivezCatchesAPassPastItsDeadline: a pass stuck in a write (a call that would ignore its deadline) makes
// /livez fail LiveSlack after the pass budget, measured on the loop's clock; once the pass ends, /livez is 200.
func TestLivezCatchesAPassPastItsDeadline(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	stuck, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	defer free()
	w.rancher.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut {
			once.Do(func() { close(stuck) })
			<-release
		}
	})
	cfg := w.config()
	cfg.Rancher.Timeout = time.Minute // the real deadline stays far away
	l := w.startLoop(t, cfg)
	srv := httptest.NewServer(Handler(l.u.Health(), nil))
	defer srv.Close()
	<-stuck
	start := l.clock.Now()
	deadline := start.Add(l.u.passBudget(1))
	l.clock.advanceTo(deadline.Add(LiveSlack))
	if code, s := getLive(t, srv.URL); code != http.StatusOK || s.Deadline != stamp(deadline.Add(LiveSlack)) {
		t.Errorf("/livez %d %+v at the pass budget plus LiveSlack, want 200 with that deadline", code, s)
	}
	l.clock.advanceTo(deadline.Add(LiveSlack + time.Second))
	if code, s := getLive(t, srv.URL); code != http.StatusServiceUnavailable || !strings.Contains(s.Error, "the pass in flight has not ended by its deadline "+stamp(deadline)) {
		t.Errorf("/livez %d %+v past the pass budget plus LiveSlack, want 503 naming the deadline", code, s)
	}
	free()
	l.next(t)
	if !l.last().OK() {
		t.Fatalf("the released pass: %v", l.last().firstError())
	}
	w.wantFresh(c, "us-east-1")
	if code, s := getLive(t, srv.URL); code != http.StatusOK {
		t.Errorf("/livez %d %+v once the pass ended", code, s)
	}
}
