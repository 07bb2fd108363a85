package rancher

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ecr-updater/ecr-updater/internal/standin"
	"github.com/ecr-updater/ecr-updater/rancher/ranchertest"
)

// fastEvents makes the stand-in's stream quick: pings every 50 ms, changes published every 20 ms.
var fastEvents = ranchertest.EventOptions{PingInterval: 50 * time.Millisecond, BatchInterval: 20 * time.Millisecond}

// fastWatch reconnects quickly, notices silence after 300 ms, and counts a connection that lived 150 ms as healthy.
var fastWatch = WatchOptions{ReadTimeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond,
	MaxBackoff: 100 * time.Millisecond, UnavailableBackoff: 50 * time.Millisecond, StableAfter: 150 * time.Millisecond}

// recorder is a Watch handler that keeps every event, checks that none carries a secret, and lets a test wait.
type recorder struct {
	t      *testing.T
	ch     chan Event
	mu     sync.Mutex
	all    []Event
	block  chan struct{} // when set, the handler waits on it before recording
	before func(Event)   // when set, called with each event before it is recorded
	calls  atomic.Int32
	after  atomic.Bool // set once Watch returned: a call then is a bug
	secret []string
}

func newRecorder(t *testing.T, secrets ...string) *recorder {
	return &recorder{t: t, ch: make(chan Event, 100000), secret: secrets}
}

func (r *recorder) handle(ev Event) {
	if r.after.Load() {
		r.t.Errorf("handler called after Watch returned: %+v", ev)
	}
	r.calls.Add(1)
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		<-block
	}
	if r.before != nil {
		r.before(ev)
	}
	if ev.Err != nil {
		msg := fmt.Sprintf("%v %+v %#v", ev.Err, ev.Err, ev.Err)
		for _, s := range r.secret {
			if strings.Contains(msg, s) {
				r.t.Errorf("an event error carries a secret: %s", msg)
			}
		}
		if strings.Contains(strings.ToLower(msg), secretMarker) {
			r.t.Errorf("an event error carries a secret: %s", msg)
		}
	}
	r.mu.Lock()
	r.all = append(r.all, ev)
	r.mu.Unlock()
	r.ch <- ev
}

// wait returns the next event of kind k (and of the resource, if id is set), failing after d.
func (r *recorder) wait(k EventKind, id string, d time.Duration) Event {
	r.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-r.ch:
			if ev.Kind == k && (id == "" || ev.ResourceID == id) {
				return ev
			}
		case <-timer.C:
			r.t.Fatalf("no %s event for %q within %v; seen %v", k, id, d, r.kinds())
			return Event{}
		}
	}
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.all {
		s := ev.Kind.String()
		if ev.ResourceID != "" {
			s += ":" + ev.ResourceID
		}
		out = append(out, s)
	}
	return out
}

func (r *recorder) count(k EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.all {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// watching runs Watch in the background until the test ends (or stop is called); stop waits for it to return.
func watching(t *testing.T, s *Server, env string, o WatchOptions, r *recorder) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := s.Watch(ctx, env, o, r.handle)
		r.after.Store(true)
		done <- err
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Error("Watch did not return within 5 s of its context being cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func subscribes(srv *ranchertest.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/subscribe") {
			n++
		}
	}
	return n
}

func restRequests(srv *ranchertest.Server) int { return srv.RequestCount() - subscribes(srv) }

func TestWatchChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v1", envKeyA, envSecretA)) // what Rancher injects into agent containers
	e := open(t, s, "")
	r := newRecorder(t, envSecretA)
	watching(t, s, "", fastWatch, r)
	if ev := r.wait(Connected, "", 2*time.Second); ev.EnvID != w.envA {
		t.Errorf("Connected %+v", ev)
	}
	if got := w.srv.Subscribers(w.envA); got != 1 {
		t.Fatalf("stand-in subscribers of %s = %d", w.envA, got)
	}

	// A registry added through the stand-in's Go API (as if in the Rancher UI).
	start := time.Now()
	reg := w.srv.AddRegistry(w.envA, ecrHost2, "")
	ev := r.wait(Changed, reg, 2*time.Second)
	t.Logf("registry added -> event in %v (batch interval 20 ms)", time.Since(start))
	if ev.ResourceType != TypeRegistry || ev.ServerAddress != ecrHost2 || ev.State != "active" {
		t.Errorf("registry event %+v", ev)
	}

	// Through REST.
	created, err := e.CreateRegistry(context.Background(), "333333333333.dkr.ecr.ap-south-1.amazonaws.com")
	if err != nil {
		t.Fatal(errText(t, err))
	}
	if ev := r.wait(Changed, created.ID, 2*time.Second); ev.ResourceType != TypeRegistry {
		t.Errorf("REST registry event %+v", ev)
	}
	cred, err := e.CreateCredential(context.Background(), reg, "AWS", password())
	if err != nil {
		t.Fatal(errText(t, err))
	}
	if ev := r.wait(Changed, cred.ID, 2*time.Second); ev.ResourceType != TypeRegistryCredential || ev.RegistryID != reg ||
		ev.PublicValue != "AWS" || ev.State != "active" {
		t.Errorf("REST credential event %+v", ev)
	}

	// A credential edited by hand (through REST), and a state change through the Go API.
	c := credentialByID(t, e, w.credA)
	if err := e.UpdateCredential(context.Background(), c, "someone", password()); err != nil {
		t.Fatal(errText(t, err))
	}
	if ev := r.wait(Changed, w.credA, 2*time.Second); ev.PublicValue != "someone" || ev.RegistryID != w.regA {
		t.Errorf("edited credential event %+v", ev)
	}
	w.srv.SetState(w.credA, "inactive")
	if ev := r.wait(Changed, w.credA, 2*time.Second); ev.State != "inactive" {
		t.Errorf("state event %+v", ev)
	}

	// Changes of other environments do not arrive here.
	w.srv.SetState(w.credB, "inactive")
	w.srv.AddRegistry(w.envB, "444444444444.dkr.ecr.eu-west-1.amazonaws.com", "")
	marker := w.srv.AddRegistry(w.envA, "555555555555.dkr.ecr.eu-west-1.amazonaws.com", "")
	r.wait(Changed, marker, 2*time.Second)
	r.mu.Lock()
	for _, ev := range r.all {
		if ev.ResourceID == w.credB || ev.EnvID != w.envA {
			t.Errorf("event of another environment: %+v", ev)
		}
	}
	r.mu.Unlock()
}

func TestWatchCoalesces(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	o.BatchInterval = 200 * time.Millisecond
	w.srv.SetEventOptions(o)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t)
	wo := fastWatch
	wo.MaxPending = 8
	var frames atomic.Int64
	wo.Frame = func(string, string) { frames.Add(1) }
	watching(t, s, "", wo, r)
	r.wait(Connected, "", 2*time.Second)

	// Rancher batches: four changes of one credential within a batch are one event with the last state.
	time.Sleep(250 * time.Millisecond) // the interval applies from the publisher's next round
	for _, st := range []string{"deactivating", "inactive", "activating", "active"} {
		w.srv.SetState(w.credA, st)
	}
	if ev := r.wait(Changed, w.credA, 2*time.Second); ev.State != "active" {
		t.Errorf("batched event %+v", ev)
	}
	time.Sleep(450 * time.Millisecond)
	if got := r.count(Changed); got != 1 {
		t.Errorf("%d change events for one batch: %v", got, r.kinds())
	}

	// A busy handler: the read loop keeps reading and folds repeated changes of a resource into its latest.
	o.BatchInterval = 20 * time.Millisecond
	w.srv.SetEventOptions(o)
	block := make(chan struct{})
	r.mu.Lock()
	r.block = block
	r.mu.Unlock()
	first := w.srv.AddRegistry(w.envA, "666666666666.dkr.ecr.eu-west-1.amazonaws.com", "")
	waitUntil(t, "the handler blocked", 2*time.Second, func() bool { return r.calls.Load() >= 3 })
	states := []string{"inactive", "active", "inactive", "active", "inactive"}
	for _, st := range states {
		w.srv.SetState(w.credA, st)
		time.Sleep(30 * time.Millisecond) // a batch each
	}
	// The read loop goes on reading while the handler is busy: more than the 100 messages Cattle queues.
	before := frames.Load()
	w.srv.EmitNoise(w.envA, 500)
	waitUntil(t, "500 frames read while the handler is busy", 5*time.Second, func() bool { return frames.Load()-before >= 500 })
	if got := w.srv.Subscribers(w.envA); got != 1 || w.srv.DroppedSlow() != 0 {
		t.Fatalf("the stand-in dropped the busy subscriber (%d sockets, %d dropped)", got, w.srv.DroppedSlow())
	}
	r.mu.Lock()
	r.block = nil
	r.mu.Unlock()
	close(block)
	r.wait(Changed, first, 2*time.Second)
	ev := r.wait(Changed, w.credA, 2*time.Second)
	if ev.State != "inactive" {
		t.Errorf("folded event %+v, want the last state", ev)
	}
	time.Sleep(100 * time.Millisecond)
	n := 0
	r.mu.Lock()
	for _, ev := range r.all {
		if ev.ResourceID == w.credA {
			n++
		}
	}
	r.mu.Unlock()
	if n != 2 { // the batch test's one, and the folded one
		t.Errorf("%d events of %s: %v", n, w.credA, r.kinds())
	}

	// More distinct changes than MaxPending while the handler is busy: one Overflow.
	block = make(chan struct{})
	r.mu.Lock()
	r.block = block
	r.mu.Unlock()
	calls := r.calls.Load()
	w.srv.SetState(w.credA, "active")
	waitUntil(t, "the handler blocked", 2*time.Second, func() bool { return r.calls.Load() > calls })
	for i := 0; i < 20; i++ {
		w.srv.AddRegistry(w.envA, fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", 700000000000+i), "")
	}
	time.Sleep(150 * time.Millisecond)
	r.mu.Lock()
	r.block = nil
	r.mu.Unlock()
	close(block)
	r.wait(Overflow, "", 2*time.Second)
	time.Sleep(100 * time.Millisecond)
	if got := r.count(Overflow); got != 1 {
		t.Errorf("%d Overflow events", got)
	}
}

func waitUntil(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestWatchNoise: 1,500 events of other types are discarded without decoding, no REST request, no handler call.
func TestWatchNoise(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t)
	var frames, noise atomic.Int64
	wo := fastWatch
	wo.Frame = func(name, typ string) {
		frames.Add(1)
		if name == "resource.change" && typ != TypeRegistry && typ != TypeRegistryCredential {
			noise.Add(1)
		}
	}
	watching(t, s, "", wo, r)
	r.wait(Connected, "", 2*time.Second)
	rest := restRequests(w.srv)
	calls := r.calls.Load()

	const n = 1500
	start, cpu := time.Now(), cpuTime()
	if q := w.srv.EmitNoise(w.envA, n); q != n {
		t.Fatalf("EmitNoise queued %d", q)
	}
	deadline := time.Now().Add(10 * time.Second)
	for noise.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d noise events read; stand-in dropped %d sockets; events %v", noise.Load(), n, w.srv.DroppedSlow(), r.kinds())
		}
		time.Sleep(5 * time.Millisecond)
	}
	wall, cpuUsed := time.Since(start), cpuTime()-cpu
	t.Logf("1,500 noise events: %v wall, %v CPU of the whole process (stand-in rendering and writing included)", wall, cpuUsed)
	if got := restRequests(w.srv) - rest; got != 0 {
		t.Errorf("%d REST requests for noise", got)
	}
	if got := r.calls.Load() - calls; got != 0 {
		t.Errorf("%d handler calls for noise: %v", got, r.kinds())
	}
	if w.srv.Subscribers(w.envA) != 1 || r.count(Disconnected) != 0 {
		t.Errorf("the socket did not survive the noise: %v", r.kinds())
	}

	// The client's own share, measured alone: the same frames through the decoder.
	raw := rawFrames(t, w.srv, w.envA, n)
	wt := &watch{o: wo.withDefaults(), env: w.envA, q: newEventQueue(DefaultMaxPending)}
	wt.o.Frame = nil
	bytes := 0
	start, cpu = time.Now(), cpuTime()
	for _, f := range raw {
		bytes += len(f)
		if err := wt.handle(f); err != nil {
			t.Fatal(err)
		}
	}
	wall, cpuUsed = time.Since(start), cpuTime()-cpu
	t.Logf("decoding 1,500 noise frames (%d KB): %v wall, %v CPU", bytes>>10, wall, cpuUsed)
	if wall > time.Second {
		t.Errorf("decoding 1,500 noise frames took %v, want under 1 s", wall)
	}
	if items := wt.q.take(); len(items) != 0 {
		t.Errorf("noise queued %d events", len(items))
	}
}

// rawFrames subscribes with a plain websocket client and returns n noise frames as sent.
func rawFrames(t testing.TB, srv *ranchertest.Server, env string, n int) [][]byte {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(envKeyA+":"+envSecretA)))
	n0 := srv.Subscribers(env)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/v2-beta/subscribe?eventNames=resource.change", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, "one more subscriber", 2*time.Second, func() bool { return srv.Subscribers(env) == n0+1 })
	// EmitNoise paces the flood to the reader: read meanwhile.
	emitted := make(chan int, 1)
	go func() { emitted <- srv.EmitNoise(env, n) }()
	var out [][]byte
	for len(out) < n {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"name":"ping"`) {
			out = append(out, b)
		}
	}
	if got := <-emitted; got < n { // n to each subscriber of env
		t.Fatalf("EmitNoise queued %d, want at least %d", got, n)
	}
	return out
}

func TestWatchReconnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t)
	var frames atomic.Int64
	wo := fastWatch
	wo.Frame = func(string, string) { frames.Add(1) }
	watching(t, s, w.envA, wo, r)
	r.wait(Connected, "", 2*time.Second)

	// Dropped sockets (no close frame): Disconnected with an error, then Connected again.
	for i := 0; i < 3; i++ {
		time.Sleep(wo.StableAfter) // a socket that lived StableAfter was healthy: its failure restarts the backoff
		n := frames.Load()
		waitUntil(t, "a frame", 2*time.Second, func() bool { return frames.Load() > n })
		if n := w.srv.DropSubscribers(); n != 1 {
			t.Fatalf("DropSubscribers = %d", n)
		}
		ev := r.wait(Disconnected, "", 2*time.Second)
		if ev.Err == nil || ev.Attempt != 1 || ev.RetryIn <= 0 || ev.RetryIn > fastWatch.MinBackoff {
			t.Errorf("Disconnected %+v (a healthy socket's first failure waits MinBackoff at most)", ev)
		}
		r.wait(Connected, "", 2*time.Second)
	}
	// The server closes the socket normally (Cattle's 12-hour limit): Disconnected without error, reconnect.
	waitUntil(t, "a subscriber", 2*time.Second, func() bool { return w.srv.Subscribers(w.envA) == 1 })
	w.srv.CloseSubscribers()
	if ev := r.wait(Disconnected, "", 2*time.Second); ev.Err != nil {
		t.Errorf("normal close reported as %v", ev.Err)
	}
	r.wait(Connected, "", 2*time.Second)

	// A change made while the server is down: Connected again afterwards (the caller re-reads then).
	waitUntil(t, "a subscriber", 2*time.Second, func() bool { return w.srv.Subscribers(w.envA) == 1 })
	w.srv.SetDown(true)
	r.wait(Disconnected, "", 2*time.Second)
	reg := w.srv.AddRegistry(w.envA, "777777777777.dkr.ecr.eu-west-1.amazonaws.com", "")
	time.Sleep(100 * time.Millisecond) // a few failed attempts
	w.srv.SetDown(false)
	r.wait(Connected, "", 3*time.Second)
	if got, want := r.count(Connected), 6; got != want {
		t.Errorf("%d Connected, want %d: %v", got, want, r.kinds())
	}
	waitUntil(t, "6 subscriptions accepted", time.Second, func() bool { return w.srv.Subscriptions() == 6 })
	_ = reg
	// Failed attempts while down were counted and backed off.
	r.mu.Lock()
	maxAttempt := 0
	for _, ev := range r.all {
		if ev.Kind == Disconnected {
			maxAttempt = max(maxAttempt, ev.Attempt)
		}
	}
	r.mu.Unlock()
	if maxAttempt < 2 {
		t.Errorf("no repeated attempt while the server was down: %v", r.kinds())
	}
}

func TestWatchReadDeadline(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	w.srv.SetEventOptions(o)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t)
	var last atomic.Int64 // when the last frame arrived
	wo := fastWatch
	wo.Frame = func(string, string) { last.Store(time.Now().UnixNano()) }
	watching(t, s, "", wo, r)
	r.wait(Connected, "", 2*time.Second)
	time.Sleep(3 * fastWatch.ReadTimeout) // pings every 50 ms keep it alive
	if r.count(Disconnected) != 0 {
		t.Fatalf("disconnected while pings flowed: %v", r.kinds())
	}
	o.NoPings = true
	w.srv.SetEventOptions(o)
	ev := r.wait(Disconnected, "", 2*time.Second)
	silence := time.Since(time.Unix(0, last.Load()))
	if !errors.Is(ev.Err, errStale) {
		t.Errorf("Disconnected: %v, want the read timeout", ev.Err)
	}
	if silence < fastWatch.ReadTimeout {
		t.Errorf("gave up after %v of silence, read timeout %v", silence, fastWatch.ReadTimeout)
	}
	t.Logf("silence noticed after %v (read timeout %v): %v", silence, fastWatch.ReadTimeout, ev.Err)
	// A socket that never sends a frame is never live: no Connected until the pings come back.
	o.NoPings = false
	w.srv.SetEventOptions(o)
	r.wait(Connected, "", 2*time.Second)
}

func TestWatchCancel(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t)
	stop := watching(t, s, "", WatchOptions{}, r) // the real timings: cancel must not wait for them
	r.wait(Connected, "", 2*time.Second)
	waitUntil(t, "a subscriber", 2*time.Second, func() bool { return w.srv.Subscribers("") == 1 })
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Watch returned %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Watch returned %v after cancel", d)
	}
	ev := r.wait(Disconnected, "", time.Second)
	if !errors.Is(ev.Err, context.Canceled) {
		t.Errorf("last event %+v", ev)
	}
	waitUntil(t, "no subscriber", time.Second, func() bool { return w.srv.Subscribers("") == 0 })
	if got := w.srv.ClosedByClient(); got != 1 {
		t.Errorf("the stand-in got %d close frames, want 1", got)
	}

	// Cancelled while waiting to retry an unavailable stream.
	o := fastEvents
	o.Refuse = http.StatusNotFound
	w.srv.SetEventOptions(o)
	r = newRecorder(t)
	stop = watching(t, s, "", WatchOptions{}, r)
	r.wait(Unavailable, "", 2*time.Second)
	start = time.Now()
	_ = stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Watch returned %v after cancel", d)
	}
}

func TestWatchUnavailable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	o.Refuse = http.StatusNotFound
	w.srv.SetEventOptions(o)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t, envSecretA, base64.StdEncoding.EncodeToString([]byte(envKeyA+":"+envSecretA)))
	wo := fastWatch
	wo.UnavailableBackoff, wo.MaxBackoff = 100*time.Millisecond, 200*time.Millisecond
	watching(t, s, "", wo, r)
	ev := r.wait(Unavailable, "", 2*time.Second)
	if ev.Status != 404 || ev.Attempt != 1 || ev.RetryIn < 50*time.Millisecond || ev.RetryIn > 100*time.Millisecond {
		t.Errorf("first Unavailable %+v", ev)
	}
	if msg := ev.Err.Error(); !strings.Contains(msg, "404") || !strings.Contains(msg, "older Rancher") || !strings.Contains(msg, w.envA) {
		t.Errorf("Unavailable error %q", msg)
	}
	if r.wait(Unavailable, "", 2*time.Second).Attempt != 2 {
		t.Error("the second refusal is not attempt 2")
	}
	// Bounded attempts: waits of 50-100, 100-200, then 100-200 ms: at most 8 attempts in one second.
	n0, start := subscribes(w.srv), time.Now()
	time.Sleep(time.Second)
	attempts := subscribes(w.srv) - n0
	t.Logf("%d attempts in %v while refused", attempts, time.Since(start))
	if attempts < 4 || attempts > 10 {
		t.Errorf("%d attempts in 1 s while refused", attempts)
	}
	// 403 as a proxy might answer, then the stream comes back.
	o.Refuse = http.StatusForbidden
	w.srv.SetEventOptions(o)
	for r.wait(Unavailable, "", 2*time.Second).Status != 403 {
	}
	o.Refuse = 0
	w.srv.SetEventOptions(o)
	r.wait(Connected, "", 2*time.Second)
	if r.count(Disconnected) != 0 {
		t.Errorf("refusals reported as disconnections: %v", r.kinds())
	}
}

// TestUnavailableBackoffDefaults: with the defaults, a refused stream is tried at most 4 times a minute (the
// shortest waits drawn).
func TestUnavailableBackoffDefaults(t *testing.T) {
	o := WatchOptions{}.withDefaults()
	attempts, at := 1, time.Duration(0)
	for n := 1; ; n++ {
		d := backoff(o.UnavailableBackoff, o.MaxBackoff, n)
		lo := min(o.UnavailableBackoff<<(n-1), o.MaxBackoff) / 2
		if d < lo {
			t.Fatalf("wait %d = %v, below half of its step", n, d)
		}
		if at += lo; at > time.Minute {
			break
		}
		attempts++
	}
	if attempts > 4 {
		t.Errorf("%d attempts in a minute", attempts)
	}
	for n := 1; n < 100; n++ {
		if d := backoff(time.Second, time.Minute, n); d > time.Minute || d < 500*time.Millisecond {
			t.Fatalf("backoff(1s, 1m, %d) = %v", n, d)
		}
	}
}

// TestWatchFront: behind a front that redirects the upgrade, or answers it with a page, or sends frames that are
// not Cattle's, Watch never follows the redirect and reports the stream unavailable or broken.
func TestWatchFront(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	back, _ := url.Parse(w.srv.URL)
	rp := httputil.NewSingleHostReverseProxy(back)
	tr := &http.Transport{} // not http.DefaultTransport, which package rancher routes (and guards)
	defer tr.CloseIdleConnections()
	rp.Transport = tr
	var mode atomic.Value
	mode.Store("redirect")
	up := websocket.Upgrader{}
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, "/subscribe") {
			rp.ServeHTTP(rw, req)
			return
		}
		switch mode.Load() {
		case "redirect":
			http.Redirect(rw, req, "ws"+strings.TrimPrefix(w.srv.URL, "http")+req.URL.RequestURI(), http.StatusFound)
		case "page":
			rw.Header().Set("Content-Type", "text/html")
			_, _ = rw.Write([]byte("<html>proxy</html>"))
		case "garbage", "huge", "binary", "foreign":
			c, err := up.Upgrade(rw, req, nil)
			if err != nil {
				return
			}
			defer c.Close()
			switch mode.Load() {
			case "garbage":
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"name":"ping","data":{`))
			case "huge":
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"name":"ping","data":"`+strings.Repeat("x", 2<<20)+`"}`))
			case "binary":
				_ = c.WriteMessage(websocket.BinaryMessage, []byte(`{"name":"ping"}`))
			case "foreign":
				_ = c.WriteMessage(websocket.TextMessage, []byte(`{"name":"resource.change","resourceType":"registry",`+
					`"resourceId":"1sp9","data":{"resource":{"id":"1sp9","type":"registry","accountId":"1a99"}}}`))
			}
			_, _, _ = c.ReadMessage()
		}
	}))
	defer front.Close()
	s := dial(t, Options{Endpoint: endpoint(front.URL + "/v2-beta/projects/" + w.envA), AccessKey: envKeyA, SecretKey: envSecretA})
	for _, x := range []struct {
		mode   string
		kind   EventKind
		status int
		text   string
	}{
		{"redirect", Unavailable, 302, "redirect"},
		{"page", Unavailable, 200, "older Rancher"},
		{"garbage", Disconnected, 0, "truncated"},
		{"huge", Disconnected, 0, "larger than"},
		{"binary", Disconnected, 0, "binary"},
		{"foreign", Disconnected, 0, "another environment"},
	} {
		t.Run(x.mode, func(t *testing.T) {
			mode.Store(x.mode)
			r := newRecorder(t, envSecretA)
			stop := watching(t, s, "", fastWatch, r)
			ev := r.wait(x.kind, "", 2*time.Second)
			_ = stop()
			if ev.Status != x.status || ev.Err == nil || !strings.Contains(ev.Err.Error(), x.text) {
				t.Errorf("%s: %+v", x.mode, ev)
			}
			if r.count(Changed) != 0 {
				t.Errorf("a change from a bad frame: %v", r.kinds())
			}
		})
	}
	if got := w.srv.Subscriptions(); got != 0 {
		t.Errorf("the stand-in saw %d subscriptions: a redirect was followed", got)
	}
}

// TestWatchAccountKey: one Account API key watches several environments, each on its own socket.
func TestWatchAccountKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v2-beta", userKey, userSecret))
	if err := s.Watch(context.Background(), "", fastWatch, func(Event) {}); err == nil || !strings.Contains(err.Error(), "Account API key") {
		t.Errorf("Watch of no environment with an account key = %v", err)
	}
	if err := s.Watch(context.Background(), w.envA, fastWatch, nil); err == nil {
		t.Error("Watch without a handler")
	}
	ra, rb, rc := newRecorder(t, userSecret), newRecorder(t, userSecret), newRecorder(t, userSecret)
	watching(t, s, w.envA, fastWatch, ra)
	watching(t, s, w.envB, fastWatch, rb)
	watching(t, s, w.envC, fastWatch, rc) // not a member
	ra.wait(Connected, "", 2*time.Second)
	rb.wait(Connected, "", 2*time.Second)
	if ev := rc.wait(Unavailable, "", 2*time.Second); ev.Status != 403 || !strings.Contains(ev.Err.Error(), "no access") {
		t.Errorf("environment C: %+v", ev)
	}
	regA := w.srv.AddRegistry(w.envA, ecrHost2, "")
	regB := w.srv.AddRegistry(w.envB, ecrHost2, "")
	if ev := ra.wait(Changed, regA, 2*time.Second); ev.EnvID != w.envA {
		t.Errorf("A: %+v", ev)
	}
	if ev := rb.wait(Changed, regB, 2*time.Second); ev.EnvID != w.envB {
		t.Errorf("B: %+v", ev)
	}
	ra.mu.Lock()
	for _, ev := range ra.all {
		if ev.ResourceID == regB {
			t.Error("A got B's registry")
		}
	}
	ra.mu.Unlock()
	if got := w.srv.Subscribers(""); got != 2 {
		t.Errorf("%d sockets, want 2", got)
	}
	// Env.Watch names its environment.
	e := open(t, s, w.envB)
	rd := newRecorder(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Watch(ctx, fastWatch, rd.handle) }()
	rd.wait(Connected, "", 2*time.Second)
	if got := w.srv.Subscribers(w.envB); got != 2 {
		t.Errorf("%d sockets on B", got)
	}
	cancel()
	<-done
}

func TestWatchTLS(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{TLS: true})
	w.srv.SetEventOptions(fastEvents)
	for _, x := range []struct {
		name   string
		modify func(*Options)
	}{
		{"CA", func(o *Options) { o.CAPEM = w.srv.CAPEM() }},
		{"InsecureSkipVerify", func(o *Options) { o.InsecureSkipVerify = true }},
	} {
		t.Run(x.name, func(t *testing.T) {
			o := w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA)
			x.modify(&o)
			s := dial(t, o)
			r := newRecorder(t)
			stop := watching(t, s, "", fastWatch, r)
			r.wait(Connected, "", 3*time.Second)
			reg := w.srv.AddRegistry(w.envA, fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", time.Now().UnixNano()%1e12), "")
			r.wait(Changed, reg, 2*time.Second)
			_ = stop()
			s.Close()
		})
	}
}

func TestScanEvent(t *testing.T) {
	for _, x := range []struct {
		in, name, typ, err string
	}{
		{`{"id":"x","name":"ping","resourceType":null,"data":{"options":{},"resources":[]}}`, "ping", "", ""},
		{` {"data":{"a":"}\"{","b":[1,{"c":"]"}]},"resourceType":"container","name":"resource.change"}`, "resource.change", "container", ""},
		{`{"name":"resource\u002echange","resourceType":"registry\/x"}`, "resource.change", "registry/x", ""},
		{`{"name":"ping","time":12,"resourceType":null}`, "ping", "", ""},
		{`{"name":"ping"}`, "ping", "", ""},
		{`{"resourceType":"registry"}`, "", "", "without an event name"},
		{`[]`, "", "", "not a JSON object"},
		{`"x"`, "", "", "not a JSON object"},
		{``, "", "", "not a JSON object"},
		{`{"data":{"x":"`, "", "", "truncated"},
		{`{"data":{"x":1}`, "", "", "malformed"},
		{`{"name" "ping"}`, "", "", "malformed"},
		{`{"name":"ping" "resourceType":null}`, "", "", "malformed"},
		{`{"name":"bad\escape","resourceType":null}`, "", "", "malformed"},
		{`{"a":,"name":"ping"}`, "", "", "malformed"},
	} {
		name, typ, err := scanEvent([]byte(x.in))
		if x.err != "" {
			if err == nil || !strings.Contains(err.Error(), x.err) {
				t.Errorf("scanEvent(%s) = %q %q %v, want an error with %q", x.in, name, typ, err, x.err)
			}
			continue
		}
		if err != nil || name != x.name || typ != x.typ {
			t.Errorf("scanEvent(%s) = %q %q %v, want %q %q", x.in, name, typ, err, x.name, x.typ)
		}
	}
}

// TestWatchProxy: the socket goes through the same proxy as the REST requests.
func TestWatchProxy(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	u, _ := url.Parse(w.srv.URL)
	host := "rancher.example.invalid:" + u.Port()
	p := standin.NewProxy(map[string]string{host: u.Host})
	t.Cleanup(p.Close)
	proxyURL, _ := url.Parse(p.URL)
	var asked atomic.Int32
	o := Options{Endpoint: endpoint("http://" + host + "/v2-beta/projects/" + w.envA), AccessKey: envKeyA, SecretKey: envSecretA,
		Proxy: func(*http.Request) (*url.URL, error) { asked.Add(1); return proxyURL, nil }}
	s := dial(t, o)
	r := newRecorder(t, envSecretA)
	stop := watching(t, s, "", fastWatch, r)
	r.wait(Connected, "", 2*time.Second)
	reg := w.srv.AddRegistry(w.envA, ecrHost2, "")
	r.wait(Changed, reg, 2*time.Second)
	_ = stop()
	if p.Tunnels() != 1 || p.Requests() == 0 {
		t.Errorf("proxy saw %d CONNECTs and %d requests", p.Tunnels(), p.Requests())
	}
	if asked.Load() < 2 {
		t.Errorf("Options.Proxy asked %d times", asked.Load())
	}
}

// BenchmarkDecodeNoise is the client's cost of one unrelated event (about 3.4 KB): scanned and discarded.
func BenchmarkDecodeNoise(b *testing.B) {
	srv := ranchertest.New(ranchertest.Options{})
	defer srv.Close()
	env := srv.AddEnvironment("noisy")
	srv.AddEnvironmentKey(env, envKeyA, envSecretA)
	srv.SetEventOptions(fastEvents)
	raw := rawFrames(b, srv, env, 1500)
	wt := &watch{o: WatchOptions{}.withDefaults(), env: env, q: newEventQueue(DefaultMaxPending)}
	size := 0
	for _, f := range raw {
		size += len(f)
	}
	b.SetBytes(int64(size / len(raw)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := wt.handle(raw[i%len(raw)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWatchServices: with Services, a change of a service of any kind is reported (as TypeService, with its id);
// without it, service events are discarded like any other type.
func TestWatchServices(t *testing.T) {
	t.Parallel()
	for _, services := range []bool{true, false} {
		w := newWorld(t, ranchertest.Options{})
		w.srv.SetEventOptions(fastEvents)
		s := dial(t, w.opts("/v1", envKeyA, envSecretA))
		r := newRecorder(t, envSecretA)
		o := fastWatch
		o.Services = services
		watching(t, s, "", o, r)
		r.wait(Connected, "", 2*time.Second)
		svc := w.srv.AddService(w.envA, "web", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1")
		lb := w.srv.AddService(w.envA, "lb", "rancher/lb-service-haproxy:v0.9.1")
		w.srv.SetServiceKind(lb, "loadBalancerService")
		marker := w.srv.AddRegistry(w.envA, ecrHost2, "")
		r.wait(Changed, marker, 2*time.Second)
		if !services {
			r.mu.Lock()
			for _, ev := range r.all {
				if ev.ResourceType == TypeService {
					t.Errorf("a service event without Services: %+v", ev)
				}
			}
			r.mu.Unlock()
			continue
		}
		for _, id := range []string{svc, lb} {
			if ev := r.wait(Changed, id, 2*time.Second); ev.ResourceType != TypeService || ev.State != "active" {
				t.Errorf("service event %+v", ev)
			}
		}
	}
}

// TestWatchAgentKey: the key Rancher gives a container with the agent labels names its environment
// (X-API-Account-Id): the events carry its id with no CATTLE_URL project and no registry read first.
func TestWatchAgentKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	for _, k := range [][2]string{{agentKeyA, agentSecretA}, {agentAdminKeyA, agentAdminSecret}} {
		s := dial(t, w.opts("/v1", k[0], k[1]))
		r := newRecorder(t, k[1])
		stop := watching(t, s, "", fastWatch, r)
		if ev := r.wait(Connected, "", 2*time.Second); ev.EnvID != w.envA {
			t.Errorf("%s: Connected %+v, want environment %s", s.KeyKind(), ev, w.envA)
		}
		reg := w.srv.AddRegistry(w.envA, fmt.Sprintf("%012d.dkr.ecr.eu-west-1.amazonaws.com", time.Now().UnixNano()%1e12), "")
		if ev := r.wait(Changed, reg, 2*time.Second); ev.EnvID != w.envA {
			t.Errorf("%s: Changed %+v", s.KeyKind(), ev)
		}
		_ = stop()
	}
}

// TestWatchRestartingRancher: 5xx answers to the upgrade (a Rancher restarting behind a load balancer), a handshake
// that times out and a refused connection are passing faults: Disconnected with the short backoff, and the stream
// is back within the short backoff of Rancher answering 101 again. Answers that mean "no stream here" keep the long
// one.
func TestWatchRestartingRancher(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	o.Refuse = http.StatusServiceUnavailable
	w.srv.SetEventOptions(o)
	opts := w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA)
	opts.Timeout = 300 * time.Millisecond // the handshake timeout
	s := dial(t, opts)
	r := newRecorder(t, envSecretA)
	wo := fastWatch
	// Were a 5xx taken for "no stream here", the next attempt would be 30-60 s away; a passing fault waits
	// MinBackoff (10 ms), doubled at each attempt up to MaxDialBackoff, however long the restart.
	wo.UnavailableBackoff, wo.MaxBackoff, wo.MaxDialBackoff = time.Minute, time.Minute, 40*time.Millisecond
	watching(t, s, "", wo, r)
	for n := 1; n <= 6; n++ {
		ev := r.wait(Disconnected, "", 2*time.Second)
		step := min(wo.MinBackoff<<(n-1), wo.MaxDialBackoff)
		if ev.Status != http.StatusServiceUnavailable || ev.Attempt != n || ev.RetryIn < step/2 || ev.RetryIn > step || ev.Err == nil {
			t.Errorf("attempt %d while Rancher answers 503: %+v, want a wait of %v-%v", n, ev, step/2, step)
		}
	}
	o.Refuse = http.StatusBadGateway
	w.srv.SetEventOptions(o)
	for r.wait(Disconnected, "", 2*time.Second).Status != http.StatusBadGateway {
	}
	// A handshake that gets no answer (a server that accepts but hangs), then the upgrade again.
	w.srv.AddFault(ranchertest.Fault{PathContains: "/subscribe", Hang: true, Times: 1})
	o.Refuse = 0
	w.srv.SetEventOptions(o)
	for {
		ev := r.wait(Disconnected, "", 2*time.Second)
		if ev.Status == 0 {
			if !strings.Contains(ev.Err.Error(), "timeout") {
				t.Errorf("hung handshake: %+v", ev)
			}
			break
		}
	}
	r.wait(Connected, "", 2*time.Second)
	if n := r.count(Unavailable); n != 0 {
		t.Errorf("%d Unavailable events for passing faults: %v", n, r.kinds())
	}

	// "No stream here": the long backoff, reported as Unavailable.
	for _, status := range []int{400, 401, 403, 404, 405, 426, 200} {
		o.Refuse = status
		w.srv.SetEventOptions(o)
		rr := newRecorder(t, envSecretA)
		stop := watching(t, s, "", wo, rr)
		ev := rr.wait(Unavailable, "", 2*time.Second)
		_ = stop()
		if ev.Status != status || ev.RetryIn < wo.UnavailableBackoff/2 || rr.count(Disconnected) > 1 { // one: the stop
			t.Errorf("refused with %d: %+v; %v", status, ev, rr.kinds())
		}
	}
}

// TestWatchConnectedAtFirstFrame: Cattle answers the 101 before it subscribes to its event bus, so a change
// published in between never comes as an event. Connected comes with the first frame (the ping Cattle writes once
// subscribed), so a catch-up read on Connected sees that change.
func TestWatchConnectedAtFirstFrame(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	o.SubscribeDelay = 200 * time.Millisecond
	var between atomic.Value
	o.BeforeSubscribe = func(env string) {
		if between.Load() == nil {
			between.Store(w.srv.AddRegistry(env, ecrHost2, ""))
		}
	}
	w.srv.SetEventOptions(o)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	e := open(t, s, "")
	r := newRecorder(t, envSecretA)
	var caught atomic.Bool
	r.before = func(ev Event) {
		if ev.Kind == Connected {
			if n := w.srv.Subscribers(w.envA); n != 1 {
				t.Errorf("Connected while the stand-in has %d subscribers: the subscription is not live yet", n)
			}
			regs, err := e.Registries(context.Background()) // the catch-up read
			if err != nil {
				t.Errorf("catch-up read: %s", errText(t, err))
			}
			for _, reg := range regs {
				caught.Store(caught.Load() || reg.ID == between.Load())
			}
		}
	}
	watching(t, s, "", fastWatch, r)
	r.wait(Connected, "", 2*time.Second)
	if between.Load() == nil {
		t.Fatal("the stand-in did not run BeforeSubscribe")
	}
	if !caught.Load() {
		t.Errorf("the catch-up read on Connected did not see registry %v, added between the 101 and the subscription", between.Load())
	}
	marker := w.srv.AddRegistry(w.envA, "333333333333.dkr.ecr.eu-west-1.amazonaws.com", "")
	r.wait(Changed, marker, 2*time.Second)
	for _, k := range r.kinds() {
		if k == "changed:"+between.Load().(string) {
			t.Errorf("the change made before the subscription came as an event: %v", r.kinds())
		}
	}
}

// TestWatchOddFrames: Cattle's bare {"name":"logout"} frame and a change it could not render ("data": null) neither
// break the socket nor make up a change; a "data": null change with an id is a trigger to re-read that resource.
func TestWatchOddFrames(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	w.srv.SetEventOptions(fastEvents)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t, envSecretA)
	var frames atomic.Int64
	wo := fastWatch
	wo.Frame = func(string, string) { frames.Add(1) }
	watching(t, s, "", wo, r)
	r.wait(Connected, "", 2*time.Second)
	n := frames.Load()
	for _, f := range [][]byte{
		[]byte(ranchertest.LogoutFrame),
		ranchertest.UnrenderableChange(TypeRegistry, ""),
		ranchertest.UnrenderableChange("container", "1i5"),
		ranchertest.UnrenderableChange(TypeRegistryCredential, w.credA),
	} {
		if w.srv.SendFrame(w.envA, f) != 1 {
			t.Fatalf("SendFrame %s", f)
		}
	}
	ev := r.wait(Changed, w.credA, 2*time.Second)
	if ev.ResourceType != TypeRegistryCredential || ev.State != "" || ev.RegistryID != "" || ev.EnvID != w.envA {
		t.Errorf("data null change %+v", ev)
	}
	marker := w.srv.AddRegistry(w.envA, ecrHost2, "")
	r.wait(Changed, marker, 2*time.Second)
	if got := frames.Load() - n; got < 5 {
		t.Errorf("%d frames read, want the 4 sent and the marker at least", got)
	}
	if r.count(Disconnected) != 0 || r.count(Connected) != 1 || r.count(Changed) != 2 {
		t.Errorf("events %v, want one connection and two changes", r.kinds())
	}
}

// TestWatchFlappingStreamBacksOff: a stream that Rancher (or a proxy) closes right after its first ping is not a
// healthy connection: the backoff keeps growing instead of restarting at every reconnect (each of which costs the
// caller a re-read). A connection that lived StableAfter restarts it.
func TestWatchFlappingStreamBacksOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ranchertest.Options{})
	o := fastEvents
	o.PingInterval, o.MaxPings = 10*time.Millisecond, 1 // closed (1000) 10 ms after the first ping
	w.srv.SetEventOptions(o)
	s := dial(t, w.opts("/v2-beta/projects/"+w.envA, envKeyA, envSecretA))
	r := newRecorder(t, envSecretA)
	wo := fastWatch
	wo.MinBackoff, wo.MaxBackoff, wo.StableAfter = 5*time.Millisecond, 80*time.Millisecond, 400*time.Millisecond
	watching(t, s, "", wo, r)
	for n := 1; n <= 7; n++ {
		r.wait(Connected, "", 2*time.Second)
		ev := r.wait(Disconnected, "", 2*time.Second)
		step := min(wo.MinBackoff<<(n-1), wo.MaxBackoff)
		if ev.Err != nil || ev.Attempt != n || ev.RetryIn < step/2 || ev.RetryIn > step {
			t.Errorf("flap %d: %+v, want attempt %d and a wait of %v-%v", n, ev, n, step/2, step)
		}
	}
	// A connection that lives StableAfter was healthy: its end restarts the backoff.
	o.MaxPings = -1
	w.srv.SetEventOptions(o)
	r.wait(Connected, "", 2*time.Second)
	time.Sleep(wo.StableAfter)
	w.srv.CloseSubscribers()
	if ev := r.wait(Disconnected, "", 2*time.Second); ev.Attempt != 1 || ev.RetryIn > wo.MinBackoff {
		t.Errorf("after a healthy connection: %+v, want attempt 1", ev)
	}
}
