package updater

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr"
	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// fakeClock is a Clock that moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

// advanceTo moves the clock and wakes the sleepers whose time has come.
func (c *fakeClock) advanceTo(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.now) {
		c.now = at
	}
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func fixedJitter() float64 { return 0.5 }

func okResult(lifetime time.Duration, issued time.Time) *Result {
	return &Result{Kind: PassScheduled, Start: issued, Tokens: map[string]ecr.Token{"us-east-1": {IssuedAt: issued, ExpiresAt: issued.Add(lifetime)}}}
}

func TestScheduleNext(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	failed := &Result{Err: errors.New("rancher down")}

	s := newSchedule(6*time.Hour, fixedJitter)
	if d, _, why := s.next(t0, okResult(12*time.Hour, t0)); d != 6*time.Hour || why != "half the shortest token lifetime (12h0m0s)" && why != "the update interval" {
		t.Errorf("12 h tokens, 6 h interval: %s (%s)", d, why)
	}
	if d, _, _ := newSchedule(time.Hour, fixedJitter).next(t0, okResult(12*time.Hour, t0)); d != time.Hour {
		t.Errorf("the interval wins when shorter: %s", d)
	}
	if d, _, why := newSchedule(6*time.Hour, fixedJitter).next(t0, okResult(20*time.Second, t0)); d != 10*time.Second || !strings.Contains(why, "half") {
		t.Errorf("20 s tokens: %s (%s)", d, why)
	}
	if d, _, why := newSchedule(6*time.Hour, fixedJitter).next(t0, &Result{Kind: PassScheduled, Start: t0}); d != 6*time.Hour || why != "the update interval" {
		t.Errorf("no tokens: %s (%s)", d, why)
	}

	// Failures back off exponentially with jitter, up to the cap.
	s = newSchedule(6*time.Hour, fixedJitter)
	var got []time.Duration
	for i := 0; i < 9; i++ {
		d, _, _ := s.next(t0, failed)
		got = append(got, d)
	}
	want := []time.Duration{3750 * time.Millisecond, 7500 * time.Millisecond, 15 * time.Second, 30 * time.Second, time.Minute,
		90 * time.Second, 90 * time.Second, 90 * time.Second, 90 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("backoff %d: %s, want %s", i+1, got[i], want[i])
		}
	}
	for _, j := range []float64{0, 0.999999} {
		s := newSchedule(6*time.Hour, func() float64 { return j })
		for i := 0; i < 20; i++ {
			if d, _, _ := s.next(t0, failed); d < MinBackoff/2 || d > MaxBackoff {
				t.Errorf("jitter %v retry %d: %s outside [%s, %s]", j, i, d, MinBackoff/2, MaxBackoff)
			}
		}
	}
	// A success resets the backoff.
	s.next(t0, okResult(12*time.Hour, t0))
	if d, _, _ := s.next(t0, failed); d >= MinBackoff {
		t.Errorf("after a success the first retry is %s", d)
	}

	// Retries never wait past the expiry of the credentials in place.
	s = newSchedule(6*time.Hour, fixedJitter)
	s.next(t0, okResult(12*time.Hour, t0))       // credentials expire at t0+12h; margin 5 min
	late := t0.Add(12*time.Hour - 6*time.Minute) // one minute before the deadline
	for i := 0; i < 6; i++ {
		s.next(late, failed)
	}
	d, _, why := s.next(late, failed) // the backoff would be 90 s
	if d != time.Minute || !strings.Contains(why, "before the credentials expire") {
		t.Errorf("retry near expiry: %s (%s), want 1m0s", d, why)
	}
	// Past the deadline: retry soon, not never.
	if d, _, _ := s.next(t0.Add(13*time.Hour), failed); d != time.Second {
		t.Errorf("retry after expiry: %s", d)
	}
	// Short tokens: a failed pass retries before they expire.
	s = newSchedule(6*time.Hour, fixedJitter)
	s.next(t0, okResult(20*time.Second, t0))
	for i := 0; i < 3; i++ {
		at := t0.Add(10 * time.Second)
		if d, _, _ := s.next(at, failed); at.Add(d).After(t0.Add(20 * time.Second)) {
			t.Errorf("retry %d at +%s lets 20 s credentials expire", i, at.Add(d).Sub(t0))
		}
	}
}

// loop runs Run on a fake clock in the background.
type loop struct {
	u      *Updater
	clock  *fakeClock
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	passes []*Result
	sleeps []sleep // each time Run waited
	seen   int     // the sleeps next has returned
}

// sleep is one wait of the loop: until when, and how many changes it had taken.
type sleep struct {
	until time.Time
	taken uint64
}

func (w *world) startLoop(t *testing.T, cfg Config) *loop {
	t.Helper()
	return w.startLoopWith(t, cfg, nil)
}

// startLoopWith starts the loop; prepare, when set, sees the updater before Run starts.
func (w *world) startLoopWith(t *testing.T, cfg Config, prepare func(*Updater)) *loop {
	t.Helper()
	l := &loop{clock: newFakeClock(time.Now()), done: make(chan error, 1)}
	cfg.Clock = l.clock
	cfg.OnPass = func(r *Result) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.passes = append(l.passes, r)
	}
	w.ecr.SetNow(l.clock.Now)
	l.u = w.updater(cfg)
	l.u.asleep = func(until time.Time, taken uint64) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.sleeps = append(l.sleeps, sleep{until, taken})
	}
	if prepare != nil {
		prepare(l.u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- l.u.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
	return l
}

// next waits until the loop sleeps again, having taken every change reported so far, and returns when it wants to
// wake up.
func (l *loop) next(t *testing.T) time.Time {
	t.Helper()
	return l.asleep(t, true)
}

// wakeAt waits until the loop sleeps having taken every change reported so far (now, or after a wait it was in
// already), and returns when it wants to wake up.
func (l *loop) wakeAt(t *testing.T) time.Time {
	t.Helper()
	return l.asleep(t, false)
}

func (l *loop) asleep(t *testing.T, again bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.u.inbox.mu.Lock()
		received := l.u.inbox.received
		l.u.inbox.mu.Unlock()
		l.mu.Lock()
		if n := len(l.sleeps); n > 0 && (n > l.seen || !again) && l.sleeps[n-1].taken == received {
			l.seen = n
			s := l.sleeps[n-1]
			l.mu.Unlock()
			return s.until
		}
		l.mu.Unlock()
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatal("the loop never slept")
	return time.Time{}
}

// step waits until the loop sleeps and wakes it at the time it asked for.
func (l *loop) step(t *testing.T) {
	t.Helper()
	l.clock.advanceTo(l.next(t))
}

// count is the number of passes so far.
func (l *loop) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.passes)
}

func (l *loop) last() *Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.passes[len(l.passes)-1]
}

// TestShortTokensAreReplacedBeforeTheyExpire: 20-second tokens with UPDATE_INTERVAL=6h for a whole minute; every
// credential must be rewritten before its token expires.
func TestShortTokensAreReplacedBeforeTheyExpire(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{TokenTTL: 20 * time.Second})
	c1 := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	c2 := w.registry(w.env, ecrHost(acct, "eu-west-1"), "active")
	cfg := w.config()
	cfg.Interval = 6 * time.Hour
	l := w.startLoop(t, cfg)
	start := l.clock.Now()

	expiry := map[string]time.Time{} // credential -> expiry of the password it holds
	worstMargin := time.Hour
	for l.clock.Now().Sub(start) <= time.Minute {
		wake := l.next(t)
		res := l.last()
		if !res.OK() {
			t.Fatalf("pass failed: %v", res.firstError())
		}
		for _, e := range res.Envs {
			for _, wr := range e.Writes {
				if old, ok := expiry[wr.CredentialID]; ok {
					margin := old.Sub(res.Start)
					if margin <= 0 {
						t.Errorf("credential %s replaced %s after its token expired", wr.CredentialID, -margin)
					}
					worstMargin = min(worstMargin, margin)
				}
				expiry[wr.CredentialID] = wr.ExpiresAt
			}
		}
		w.wantFresh(c1, "us-east-1")
		w.wantFresh(c2, "eu-west-1")
		if wake.Sub(l.clock.Now()) > 10*time.Second {
			t.Fatalf("next pass in %s, later than half the token lifetime", wake.Sub(l.clock.Now()))
		}
		l.clock.advanceTo(wake)
	}
	n := l.count()
	if n < 7 {
		t.Errorf("%d passes in a minute of 20-second tokens", n)
	}
	t.Logf("passes in 60 s: %d; longest gap between a token's expiry and its replacement: none; smallest margin before expiry: %s", n, worstMargin)
}

// TestOutageAtStartThenRecovery: Rancher is down when the daemon starts; it stays up, says what is wrong, backs
// off, and recovers by itself within one backoff cap once Rancher is back. /healthz follows.
func TestOutageAtStartThenRecovery(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.SetDown(true)
	cfg := w.config()
	l := w.startLoop(t, cfg)
	health := httptest.NewServer(Handler(l.u.Health(), nil))
	defer health.Close()

	down := l.clock.Now()
	var backoffs []time.Duration
	wake := l.next(t)
	for {
		if l.last().OK() {
			t.Fatal("a pass succeeded while Rancher was down")
		}
		if code := get(t, health.URL+"/healthz"); code != http.StatusServiceUnavailable {
			t.Errorf("/healthz %d while failing", code)
		}
		if code := get(t, health.URL+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz %d before any success", code)
		}
		backoffs = append(backoffs, wake.Sub(l.clock.Now()))
		if l.clock.Now().Sub(down) >= 3*time.Minute {
			break
		}
		l.clock.advanceTo(wake)
		wake = l.next(t)
	}
	// Rancher comes back while the loop sleeps; the next pass, due at wake, must succeed.
	w.rancher.SetDown(false)
	back := l.clock.Now()
	l.clock.advanceTo(wake)
	l.next(t)
	if !l.last().OK() {
		t.Fatalf("the first pass after Rancher came back failed: %v", l.last().firstError())
	}
	recovery := l.last().Start.Sub(back)
	if recovery > MaxBackoff {
		t.Errorf("recovered %s after Rancher came back, more than the backoff cap %s", recovery, MaxBackoff)
	}
	w.wantFresh(c, "us-east-1")
	if code := get(t, health.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d after recovery", code)
	}
	if code := get(t, health.URL+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz %d after recovery", code)
	}
	if !strings.Contains(w.log.String(), "connection refused") {
		t.Errorf("the log does not say what is wrong:\n%s", w.log)
	}
	t.Logf("backoffs while down: %v; recovery %s after Rancher came back", backoffs, recovery)
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestThrottledECR: ECR throttles for a while; passes fail, back off and recover without a restart.
func TestThrottledECR(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.ecr.AddFault(ecrtest.Fault{Code: "ThrottlingException", Times: 3})
	l := w.startLoop(t, w.config())
	for i := 0; i < 3; i++ {
		wake := l.next(t)
		if l.last().OK() {
			t.Fatalf("pass %d succeeded while throttled", i+1)
		}
		if err := l.last().TokenErrors["us-east-1"]; err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
			t.Errorf("token error: %v", err)
		}
		l.clock.advanceTo(wake)
	}
	l.next(t)
	if !l.last().OK() {
		t.Fatalf("no recovery: %v", l.last().firstError())
	}
	w.wantFresh(c, "us-east-1")
}

// TestHungRancherDoesNotStickTheLoop: a Rancher that accepts requests and never answers costs one timeout per
// request; the loop goes on and recovers when Rancher answers again.
func TestHungRancherDoesNotStickTheLoop(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.AddFault(ranchertest.Fault{Hang: true, Times: 2})
	cfg := w.config()
	cfg.Rancher.Timeout = 200 * time.Millisecond
	l := w.startLoop(t, cfg)
	for i := 0; i < 2; i++ {
		wake := l.next(t)
		if l.last().OK() || l.last().Duration > 2*time.Second {
			t.Fatalf("pass %d: ok %v in %s", i+1, l.last().OK(), l.last().Duration)
		}
		l.clock.advanceTo(wake)
	}
	l.next(t)
	if !l.last().OK() {
		t.Fatalf("no recovery: %v", l.last().firstError())
	}
	w.wantFresh(c, "us-east-1")
}

// TestStopDuringAPass: SIGTERM (the context) arrives while a write is in flight: no new work starts, the write
// in flight finishes, Run returns nil well within 10 s.
func TestStopDuringAPass(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	first := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, w.registry(w.env, ecrHost(other, "us-east-1"), "active"))
		w.rancher.AddRegistry(w.env, ecrHost(acct, "eu-west-1"), "inactive") // padding
	}
	started := make(chan struct{})
	var once sync.Once
	w.rancher.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut {
			once.Do(func() { close(started) })
		}
	})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, Delay: 700 * time.Millisecond})
	cfg := w.config()
	cfg.Concurrency = 1
	l := w.startLoop(t, cfg)
	<-started
	begin := time.Now()
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop within 10 s")
	}
	took := time.Since(begin)
	l.done <- nil // for the cleanup
	written := 0
	for _, id := range append([]string{first}, ids...) {
		if w.cred(id).Writes > 0 {
			written++
			w.wantFresh(id, "us-east-1")
		}
	}
	if written != 1 {
		t.Errorf("%d writes after the stop, want exactly the one in flight", written)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("stopped after %s; the write in flight needed about 700ms", took)
	}
}

// TestStopCancelsHungWritesAfterGrace: a write that never ends is cancelled after Grace.
func TestStopCancelsHungWritesAfterGrace(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	started := make(chan struct{})
	var once sync.Once
	w.rancher.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut {
			once.Do(func() { close(started) })
		}
	})
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodPut, Hang: true})
	cfg := w.config()
	cfg.Rancher.Timeout = time.Minute
	cfg.Grace = 300 * time.Millisecond
	l := w.startLoop(t, cfg)
	<-started
	begin := time.Now()
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	l.done <- nil
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("stopped after %s with a 300ms grace", took)
	}
}

func TestHealthStatus(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
	h := NewHealth(clock)
	srv := httptest.NewServer(Handler(h, nil))
	defer srv.Close()
	if code := get(t, srv.URL+"/ping"); code != 200 {
		t.Errorf("/ping %d", code)
	}
	if code := get(t, srv.URL+"/healthz"); code != 503 {
		t.Errorf("/healthz before any pass: %d", code)
	}
	h.passDone(clock.Now(), StatusOK, nil, "", clock.Now().Add(time.Hour))
	if code := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz after success: %d", code)
	}
	h.passDone(clock.Now(), StatusFailing, nil, "rancher answered 500", clock.Now().Add(time.Minute))
	if ok, s := h.Status(); ok || s.Status != "failing" || s.LastError != "rancher answered 500" || s.LastSuccess == "" || s.NextPass == "" {
		t.Errorf("after failure: %v %+v", ok, s)
	}
	if code := get(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz after one success: %d", code)
	}
	// A registry that cannot be refreshed does not fail the updater: 200, status degraded, the problem listed.
	problem := Problem{Env: "1a5", Registry: "1sp3", ServerAddress: host(acct, "ap-east-1"), Region: "ap-east-1", Reason: ReasonToken, Error: "AccessDeniedException"}
	h.passDone(clock.Now(), StatusDegraded, []Problem{problem}, "1 failures", clock.Now().Add(time.Minute))
	if code := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz degraded: %d", code)
	}
	if ok, s := h.Status(); !ok || s.Status != StatusDegraded || s.ProblemsTotal != 1 || len(s.Problems) != 1 || s.Problems[0] != problem {
		t.Errorf("degraded: %v %+v", ok, s)
	}
	h.passDone(clock.Now(), StatusOK, nil, "", clock.Now().Add(time.Hour))
	clock.advanceTo(clock.Now().Add(time.Hour + Overdue + time.Second))
	if ok, s := h.Status(); ok || s.Status != "overdue" {
		t.Errorf("overdue loop: %v %+v", ok, s)
	}
	if err := Probe(context.Background(), srv.URL+"/healthz"); err == nil || !strings.Contains(err.Error(), "overdue") {
		t.Errorf("Probe: %v", err)
	}
	h.passDone(clock.Now(), StatusOK, nil, "", clock.Now().Add(time.Minute))
	if err := Probe(context.Background(), srv.URL+"/healthz"); err != nil {
		t.Errorf("Probe: %v", err)
	}
}
