package updater

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// fakeStreams stands in for the event streams in the loop's tests: Run's streams land here, and the test says what
// each environment's stream reports, on the fake clock.
type fakeStreams struct {
	mu       sync.Mutex
	handlers map[string]func(rancher.Event)
	ctxs     map[string]context.Context
	returned int
}

func (f *fakeStreams) watch(ctx context.Context, key string, _ rancher.WatchOptions, h func(rancher.Event)) error {
	f.mu.Lock()
	if f.handlers == nil {
		f.handlers, f.ctxs = map[string]func(rancher.Event){}, map[string]context.Context{}
	}
	f.handlers[key], f.ctxs[key] = h, ctx
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.returned++
	f.mu.Unlock()
	return nil
}

// send reports ev on an environment's stream, as rancher.Watch would: from the stream's goroutine, one at a time.
func (f *fakeStreams) send(t *testing.T, key string, ev rancher.Event) {
	t.Helper()
	h := f.handler(t, key)
	ev.EnvID = key
	h(ev)
}

// handler waits until the stream of an environment is watched.
func (f *fakeStreams) handler(t *testing.T, key string) func(rancher.Event) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		h := f.handlers[key]
		f.mu.Unlock()
		if h != nil {
			return h
		}
	}
	t.Fatalf("no stream of environment %q", key)
	return nil
}

func (f *fakeStreams) watched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handlers)
}

// startStreamed starts the loop on the fake clock with EVENTS on and the fake streams.
func (w *world) startStreamed(t *testing.T, cfg Config) (*loop, *fakeStreams) {
	t.Helper()
	f := &fakeStreams{}
	cfg.Events = true
	l := w.startLoopWith(t, cfg, func(u *Updater) { u.streams.watch = f.watch })
	return l, f
}

// expecting reports whether the updater still expects the echo of a write of id in an environment.
func (u *Updater) expecting(envKey, id string) bool {
	u.inbox.mu.Lock()
	defer u.inbox.mu.Unlock()
	_, ok := u.inbox.echoes[echoKey{envKey, id}]
	return ok
}

// TestStreamUnavailable: a Rancher (or a proxy) that refuses the upgrade gets one warning, however many times the
// stream tries again; the schedule and /healthz are as without the stream.
func TestStreamUnavailable(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l, f := w.startStreamed(t, w.config())
	due := l.next(t)
	for i := 1; i <= 5; i++ {
		f.send(t, "", rancher.Event{Kind: rancher.Unavailable, Status: http.StatusNotFound, Attempt: i, RetryIn: 20 * time.Second})
	}
	if next := l.wakeAt(t); !next.Equal(due) {
		t.Errorf("next pass at %s, want the scheduled pass at %s", next, due)
	}
	w.wantFresh(c, "us-east-1")
	if ok, s := l.u.Health().Status(); !ok || s.Status != StatusOK || s.Events[w.env] != StreamUnavailable {
		t.Errorf("health %v %+v", ok, s)
	}
	if n := strings.Count(w.log.String(), "event stream unavailable"); n != 1 {
		t.Errorf("%d warnings about the unavailable stream", n)
	}
}

// TestStreamsOfManyEnvironmentsAndStop: an account key serving every environment follows one stream per
// environment; each stream's connection makes its environment due (a catch-up read, writing nothing current); a
// change in one reads only that one; stopping ends every stream before Run returns.
func TestStreamsOfManyEnvironmentsAndStop(t *testing.T) {
	m := newMulti(t, "Production", "Windows")
	l, f := m.startStreamed(t, m.config("all"))
	l.next(t)
	for _, id := range m.envs {
		f.send(t, id, rancher.Event{Kind: rancher.Connected})
	}
	l.step(t) // the catch-up pass of the three environments
	if res := l.waitPasses(t, 2); res.Kind != PassEvent || len(res.Envs) != 3 || res.Updated != 0 || res.ECRCalls != 0 {
		t.Fatalf("catch-up pass: kind %s, %d environments, %d updated, %d ECR calls", res.Kind, len(res.Envs), res.Updated, res.ECRCalls)
	}
	if n := f.watched(); n != 3 {
		t.Fatalf("%d streams, want 3", n)
	}
	l.next(t)
	m.rancher.ResetRequests()
	win := m.envs["Windows"]
	reg := m.rancher.AddRegistry(win, ecrHost(other, "us-east-1"), "active")
	f.send(t, win, rancher.Event{Kind: rancher.Changed, ResourceType: rancher.TypeRegistry, ResourceID: reg})
	l.step(t)
	if res := l.waitPasses(t, 3); len(res.Envs) != 1 || res.Envs[0].ID != win || res.Created != 1 {
		t.Fatalf("pass for the change: %d environments, created %d", len(res.Envs), res.Created)
	}
	for _, r := range m.rancher.Requests() {
		for name, id := range m.envs {
			if name != "Windows" && strings.Contains(r.Path, "/projects/"+id+"/") {
				t.Errorf("environment %s was read for a change in Windows: %s %s", name, r.Method, r.Path)
			}
		}
	}
	l.cancel()
	select {
	case <-l.done:
		l.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.returned != 3 {
		t.Errorf("%d of 3 streams ended when Run returned", f.returned)
	}
}

// liveEvents are the stand-in's stream timings for live updaters.
var liveEvents = ranchertest.EventOptions{BatchInterval: 20 * time.Millisecond, PingInterval: 100 * time.Millisecond}

// live is an updater running on the real clock with its event streams, against a stand-in that publishes changes
// every 20 ms (Cattle: every second) and pings every 100 ms.
type live struct {
	u      *Updater
	cancel context.CancelFunc
	done   chan error
}

func (w *world) startLive(t *testing.T, cfg Config) *live {
	t.Helper()
	return w.startLiveWith(t, cfg, rancher.WatchOptions{ReadTimeout: 2 * time.Second, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, UnavailableBackoff: 200 * time.Millisecond})
}

// startLiveWith is startLive with the given stream timings; the stand-in's other event options (a delay) stay.
func (w *world) startLiveWith(t *testing.T, cfg Config, wo rancher.WatchOptions) *live {
	t.Helper()
	o := w.rancher.EventOptions()
	o.BatchInterval, o.PingInterval = liveEvents.BatchInterval, liveEvents.PingInterval
	w.rancher.SetEventOptions(o)
	cfg.Events = true
	cfg.Watch = wo
	l := &live{u: w.updater(cfg), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- l.u.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return l
}

// eventually polls cond every 2 ms for up to d and returns how long it took, failing the test when it never holds.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
	return 0
}

// settled waits until the stream of env is connected and the first passes (the scheduled one and the stream's
// catch-up) are done.
func (l *live) settled(t *testing.T, env string) {
	t.Helper()
	eventually(t, 5*time.Second, "stream connected", func() bool { return l.streamState(env) == StreamConnected })
	eventually(t, 5*time.Second, "first passes done", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 2 })
}

func (l *live) streamState(env string) string {
	_, s := l.u.Health().Status()
	return s.Events[env]
}

// editByHand writes a credential through Rancher's REST API, as someone in the UI would.
func (w *world) editByHand(t *testing.T, cred, password string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, w.rancher.URL+"/v2-beta/projects/"+w.env+"/registrycredentials/"+cred,
		bytes.NewReader([]byte(`{"publicValue":"AWS","secretValue":"`+password+`"}`)))
	req.SetBasicAuth(envKey, envSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hand edit: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestStreamRefreshesANewRegistryAtOnce: a registry added in Rancher with a placeholder password holds a fresh token
// well within 2 s (here the stand-in publishes every 20 ms; Cattle's 1 s batching comes on top in real life); the
// echo of that write causes no further write; a credential edited by hand is rewritten; the schedule is untouched.
func TestStreamRefreshesANewRegistryAtOnce(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	old := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLive(t, w.config())
	l.settled(t, w.env)

	reg := w.rancher.AddRegistry(w.env, ecrHost(other, "us-east-1"), "active")
	cred := w.rancher.AddCredential(w.env, reg, "AWS", "placeholder", "active")
	// Within seconds, not at the next scheduled pass 6 h away (make bench measures the latency itself).
	took := eventually(t, 10*time.Second, "the new credential is fresh", func() bool {
		c, _ := w.rancher.Credential(cred)
		return c.SecretValue == w.latest("us-east-1")
	})
	t.Logf("new registry: fresh password stored %s after the change", took.Round(time.Millisecond))

	// Its echo arrives and is taken for what it is: no further write follows from it.
	eventually(t, 10*time.Second, "the echo of the write received", func() bool { return !l.u.expecting("", cred) })
	if n := w.putsTo(cred); n != 1 {
		t.Errorf("the new credential was written %d times", n)
	}
	if n := w.putsTo(old); n != 1 {
		t.Errorf("the untouched credential was written %d times (the scheduled pass only)", n)
	}

	// A credential edited by hand is rewritten.
	w.editByHand(t, old, "pasted-by-hand")
	took = eventually(t, 10*time.Second, "the edited credential is fresh again", func() bool {
		c, _ := w.rancher.Credential(old)
		return c.SecretValue == w.latest("us-east-1")
	})
	t.Logf("hand-edited credential: fresh again %s after the edit", took.Round(time.Millisecond))

	// The scheduled pass is still 6 h away.
	if _, s := l.u.Health().Status(); !strings.HasPrefix(s.NextPass, time.Now().Add(6*time.Hour).UTC().Format("2006-01-02T15")) &&
		!strings.HasPrefix(s.NextPass, time.Now().Add(6*time.Hour-time.Minute).UTC().Format("2006-01-02T15")) {
		t.Errorf("next pass %s, want about 6 h from now", s.NextPass)
	}
}

// TestStreamReconnectCatchesChangesMadeWhileAway: a dropped socket is reconnected, and the pass after the
// reconnect catches a registry added while the updater was not listening.
func TestStreamReconnectCatchesChangesMadeWhileAway(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLive(t, w.config())
	l.settled(t, w.env)
	before := w.rancher.Subscriptions()

	w.rancher.SetEventOptions(ranchertest.EventOptions{Refuse: http.StatusServiceUnavailable})
	w.rancher.DropSubscribers()
	reg := w.rancher.AddRegistry(w.env, ecrHost(other, "eu-west-1"), "active") // no one listens
	time.Sleep(100 * time.Millisecond)
	w.rancher.SetEventOptions(liveEvents)

	eventually(t, 5*time.Second, "a credential created for the registry added while away", func() bool {
		for _, c := range w.rancher.Credentials(w.env) {
			if c.RegistryID == reg && c.SecretValue == w.latest("eu-west-1") {
				return true
			}
		}
		return false
	})
	eventually(t, 5*time.Second, "connected again", func() bool { return w.rancher.Subscriptions() > before })
}

// TestStreamRancherRestartIsAPassingFault: while Rancher restarts behind a load balancer, the upgrade is answered
// 502/503; a credential put in meanwhile is fresh within a few seconds of Rancher answering 101 again, not after the
// "unavailable" backoff (here 20 s, the default), and the stream is never reported unavailable.
func TestStreamRancherRestartIsAPassingFault(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLiveWith(t, w.config(), rancher.WatchOptions{ReadTimeout: 2 * time.Second, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: rancher.DefaultMaxBackoff, UnavailableBackoff: rancher.DefaultUnavailableBackoff})
	l.settled(t, w.env)

	refusing := func(status int) {
		o := liveEvents
		o.Refuse = status
		w.rancher.SetEventOptions(o)
	}
	refused := func(status int) int {
		n := 0
		for _, r := range w.rancher.Requests() {
			if strings.HasSuffix(r.Path, "/subscribe") && r.Status == status {
				n++
			}
		}
		return n
	}
	refusing(http.StatusBadGateway)
	w.rancher.DropSubscribers()
	reg := w.rancher.AddRegistry(w.env, ecrHost(other, "eu-west-1"), "active") // no one listens
	cred := w.rancher.AddCredential(w.env, reg, "AWS", "placeholder", "active")
	eventually(t, 5*time.Second, "two 502s", func() bool { return refused(http.StatusBadGateway) >= 2 })
	refusing(http.StatusServiceUnavailable)
	eventually(t, 5*time.Second, "two 503s", func() bool { return refused(http.StatusServiceUnavailable) >= 2 })
	refusing(0) // Rancher is back
	back := time.Now()
	eventually(t, 5*time.Second, "the credential put in while Rancher restarted is fresh", func() bool {
		c, _ := w.rancher.Credential(cred)
		return c.SecretValue == w.latest("eu-west-1")
	})
	t.Logf("fresh %s after Rancher answered 101 again", time.Since(back).Round(time.Millisecond))
	if strings.Contains(w.log.String(), "event stream unavailable") {
		t.Errorf("a restarting Rancher was reported as a stream that does not exist:\n%s", w.log)
	}
}

// TestStreamCatchUpAfterTheSubscription: Cattle answers the 101 before it subscribes to its event bus; a credential
// put in between is never an event, and the catch-up pass, run once the stream's first frame shows it live,
// refreshes it.
func TestStreamCatchUpAfterTheSubscription(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLive(t, w.config())
	l.settled(t, w.env)

	// The subscription takes longer than the catch-up pass's debounce and read: a catch-up at the 101 reads too early.
	o := liveEvents
	o.SubscribeDelay = 3 * Debounce
	var cred atomic.Value
	o.BeforeSubscribe = func(env string) {
		if cred.Load() == nil {
			reg := w.rancher.AddRegistry(env, ecrHost(other, "eu-west-1"), "active")
			cred.Store(w.rancher.AddCredential(env, reg, "AWS", "placeholder", "active"))
		}
	}
	w.rancher.SetEventOptions(o)
	w.rancher.DropSubscribers()
	eventually(t, 5*time.Second, "the credential put in before the subscription is fresh", func() bool {
		id, _ := cred.Load().(string)
		c, _ := w.rancher.Credential(id)
		return id != "" && c.SecretValue == w.latest("eu-west-1")
	})
}

// TestStreamNoiseCostsNoRequest: 1,500 events of other types make no REST request and no pass: once a change
// queued after them has been handled (a registry of another kind: one read, nothing written), that read is all
// Rancher saw.
func TestStreamNoiseCostsNoRequest(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	cfg := w.config()
	reg := promtext.NewRegistry()
	cfg.Metrics = NewMetrics(reg, "test", "test")
	l := w.startLive(t, cfg)
	eventually(t, 5*time.Second, "stream connected", func() bool { return l.streamState(w.env) == StreamConnected })
	eventually(t, 5*time.Second, "first passes done", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 2 })
	eventually(t, 5*time.Second, "the echo of the first write given up", func() bool { return l.u.inbox.quiet() })
	w.rancher.ResetRequests()
	_, s := l.u.Health().Status()
	passes := s.Passes
	w.rancher.EmitNoise(w.env, 1500)
	// The change comes once the updater has read the noise: Rancher (and the stand-in) drops a subscriber that
	// still has 100 messages queued when a change is published, and a reader slowed down by a loaded machine may.
	eventually(t, 10*time.Second, "the noise read", func() bool {
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return promtexttest.Samples(promtexttest.Parse(t, rec.Body.Bytes()))[`ecr_updater_events_received_total{type="other"}`] >= 1500
	})
	w.rancher.AddRegistry(w.env, "quay.io", "active") // published after the noise
	eventually(t, 10*time.Second, "the pass for the change after the noise", func() bool {
		_, s := l.u.Health().Status()
		return s.Passes > passes
	})
	if n := w.rancher.RequestCount(); n != 2 {
		var seen []string
		for _, r := range w.rancher.Requests() {
			seen = append(seen, r.Method+" "+r.Path)
		}
		t.Errorf("%d REST requests for the noise and one change, want the change's 2 lists: %q", n, seen)
	}
	if _, s := l.u.Health().Status(); s.Passes != passes+1 || l.streamState(w.env) != StreamConnected {
		t.Errorf("passes %d -> %d, stream %s", passes, s.Passes, l.streamState(w.env))
	}
}

// TestStreamStartsAfterARetryReadsTheEnvironment: an environment the scheduled pass could not read gets its stream
// once a retry reads it, not 6 hours later.
func TestStreamStartsAfterARetryReadsTheEnvironment(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.AddFault(ranchertest.Fault{Method: http.MethodGet, PathContains: "/registries", Status: http.StatusServiceUnavailable, Times: 1})
	l := w.startLive(t, w.config())
	eventually(t, 10*time.Second, "the first pass", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 1 })
	if n := w.rancher.Subscribers(""); n != 0 {
		t.Fatalf("%d sockets before the environment was read", n)
	}
	took := eventually(t, 10*time.Second, "stream connected after the retry", func() bool { return l.streamState(w.env) == StreamConnected })
	w.wantFresh(c, "us-east-1")
	t.Logf("stream connected %s after the first pass failed to read the environment", took.Round(time.Millisecond))
}

// quiet reports whether the inbox holds no change and expects no echo.
func (in *inbox) quiet() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.pending) == 0 && len(in.echoes) == 0
}

// TestLateEchoesDoNotLoop (issue 19, point 3) end to end: with Rancher's reports 6 s late (a loaded Cattle, a
// buffering proxy), a credential edited by hand is rewritten exactly once: the report of the rewrite, 6 s later,
// is its echo. Before, echoes were recognised for 5 s only, and one hand edit made a PUT every ~7 s without end.
func TestLateEchoesDoNotLoop(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	a := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLive(t, w.config())
	eventually(t, 5*time.Second, "stream connected", func() bool { return l.streamState(w.env) == StreamConnected })
	eventually(t, 5*time.Second, "first passes done", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 2 })
	o := w.rancher.EventOptions()
	o.Delay = 6 * time.Second
	w.rancher.SetEventOptions(o)

	w.editByHand(t, a, "pasted-by-hand")
	took := eventually(t, 15*time.Second, "the edited credential is fresh again", func() bool {
		c, _ := w.rancher.Credential(a)
		return c.SecretValue == w.latest("us-east-1")
	})
	eventually(t, 15*time.Second, "the rewrite's echo received", func() bool { return !l.u.expecting("", a) })
	if n := w.putsTo(a); n != 3 { // the scheduled pass's, the hand edit, the rewrite
		t.Errorf("%d PUTs of the credential, want 3: the scheduled pass's, the hand edit and one rewrite", n)
	}
	t.Logf("hand edit rewritten %s after it was made (6 s of it Rancher's delay); its echo taken %s after that", took.Round(time.Millisecond), o.Delay)
}
