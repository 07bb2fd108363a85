package updater

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecr-updater/ecr-updater/ecr/ecrtest"
	"github.com/ecr-updater/ecr-updater/rancher"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

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

// startLiveWith is startLive with the given stream timings.
func (w *world) startLiveWith(t *testing.T, cfg Config, wo rancher.WatchOptions) *live {
	t.Helper()
	w.rancher.SetEventOptions(liveEvents)
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

	// Its echo (and the stream's later events) cause no further write.
	time.Sleep(300 * time.Millisecond)
	if n := w.putsTo(cred); n != 1 {
		t.Errorf("the new credential was written %d times", n)
	}
	if n := w.putsTo(old); n != 1 {
		t.Errorf("the untouched credential was written %d times (the scheduled pass only)", n)
	}

	// A credential edited by hand, once the echo window is over, is rewritten.
	l.u.changes.mu.Lock()
	l.u.changes.window = 0
	l.u.changes.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPut, w.rancher.URL+"/v2-beta/projects/"+w.env+"/registrycredentials/"+old,
		bytes.NewReader([]byte(`{"publicValue":"AWS","secretValue":"pasted-by-hand"}`)))
	req.SetBasicAuth(envKey, envSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("hand edit: %v %v", err, resp)
	}
	resp.Body.Close()
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

// TestStreamReconnectCatchesChangesMadeWhileAway: a dropped socket is reconnected, and the small pass after the
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

// TestStreamUnavailable: a Rancher (or a proxy) that refuses the upgrade gets one warning and a few attempts a
// second at most (here with a 200 ms backoff; the default starts at 20 s); the schedule and /healthz are as without
// the stream.
func TestStreamUnavailable(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	c := w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	w.rancher.SetEventOptions(ranchertest.EventOptions{Refuse: http.StatusNotFound})
	cfg := w.config()
	l := &live{}
	w.rancher.ResetRequests()
	cfg.Events = true
	cfg.Watch = rancher.WatchOptions{UnavailableBackoff: 200 * time.Millisecond, MaxBackoff: 400 * time.Millisecond}
	l.u = w.updater(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.u.Run(ctx) }()
	eventually(t, 5*time.Second, "stream unavailable", func() bool { return l.streamState(w.env) == StreamUnavailable })
	time.Sleep(time.Second)
	cancel()
	<-done
	w.wantFresh(c, "us-east-1")
	if ok, s := l.u.Health().Status(); !ok || s.Status != StatusOK {
		t.Errorf("health %v %+v", ok, s)
	}
	attempts := 0
	for _, r := range w.rancher.Requests() {
		if strings.HasSuffix(r.Path, "/subscribe") {
			attempts++
		}
	}
	if attempts < 1 || attempts > 8 {
		t.Errorf("%d subscribe attempts in about a second", attempts)
	}
	if n := strings.Count(w.log.String(), "event stream unavailable"); n != 1 {
		t.Errorf("%d warnings about the unavailable stream", n)
	}
}

// TestStreamNoiseCostsNoRequest: 1,500 events of other types make no REST request and no pass.
func TestStreamNoiseCostsNoRequest(t *testing.T) {
	w := newWorld(t, ranchertest.Options{}, ecrtest.Options{})
	w.registry(w.env, ecrHost(acct, "us-east-1"), "active")
	l := w.startLive(t, w.config())
	l.settled(t, w.env)
	time.Sleep(100 * time.Millisecond)
	requests, passes := w.rancher.RequestCount(), 0
	_, s := l.u.Health().Status()
	passes = s.Passes
	w.rancher.EmitNoise(w.env, 1500)
	time.Sleep(500 * time.Millisecond)
	if n := w.rancher.RequestCount(); n != requests {
		t.Errorf("%d REST requests after the noise", n-requests)
	}
	if _, s := l.u.Health().Status(); s.Passes != passes || l.streamState(w.env) != StreamConnected {
		t.Errorf("passes %d -> %d, stream %s", passes, s.Passes, l.streamState(w.env))
	}
}

// TestStreamsOfManyEnvironmentsAndStop: an account key serving every environment holds one socket per
// environment; a change in one reads only that one; stopping closes every socket.
func TestStreamsOfManyEnvironmentsAndStop(t *testing.T) {
	m := newMulti(t, "Production", "Windows")
	l := m.startLive(t, m.config("all"))
	eventually(t, 5*time.Second, "3 streams", func() bool {
		return m.rancher.Subscribers("") == 3 && l.streamState(m.envs["Windows"]+" (Windows)") == StreamConnected
	})
	eventually(t, 5*time.Second, "first passes done", func() bool { _, s := l.u.Health().Status(); return s.Passes >= 2 })
	time.Sleep(700 * time.Millisecond) // the resync passes of the streams that connected last
	m.rancher.ResetRequests()
	win := m.envs["Windows"]
	reg := m.rancher.AddRegistry(win, ecrHost(other, "us-east-1"), "active")
	eventually(t, 10*time.Second, "a credential in Windows", func() bool {
		for _, c := range m.rancher.Credentials(win) {
			if c.RegistryID == reg {
				return true
			}
		}
		return false
	})
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
	eventually(t, 5*time.Second, "every socket closed", func() bool { return m.rancher.Subscribers("") == 0 })
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
