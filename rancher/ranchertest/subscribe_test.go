package ranchertest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fast makes the event stream quick enough for tests.
var fast = EventOptions{PingInterval: 50 * time.Millisecond, BatchInterval: 20 * time.Millisecond}

func wsURL(s *Server, path string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

func wsDial(s *Server, path string, k key) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if k.access != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(k.access+":"+k.secret)))
	}
	return websocket.DefaultDialer.Dial(wsURL(s, path), h)
}

func subscribe(t *testing.T, s *Server, path string, k key) *websocket.Conn {
	t.Helper()
	c, resp, err := wsDial(s, path, k)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("subscribe %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// next reads the next message, failing the test after d.
func next(t *testing.T, c *websocket.Conn, d time.Duration) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d", typ)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// nextChange reads messages until a resource.change, skipping pings.
func nextChange(t *testing.T, c *websocket.Conn, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := next(t, c, time.Until(deadline))
		if m["name"] != "ping" {
			return m
		}
	}
}

var eventFields = []string{"id", "name", "resourceType", "resourceId", "data", "time", "replyTo", "publisher",
	"transitioning", "transitioningMessage", "transitioningInternalMessage", "transitioningProgress", "previousIds",
	"previousNames", "timeoutMillis", "context"}

func checkEventVO(t *testing.T, m map[string]any) {
	t.Helper()
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := append([]string(nil), eventFields...)
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("EventVO fields %v, want %v", keys, want)
	}
	if id, _ := m["id"].(string); len(id) != 36 {
		t.Errorf("id %v", m["id"])
	}
	if ts, _ := m["time"].(float64); time.Since(time.UnixMilli(int64(ts))) > time.Minute {
		t.Errorf("time %v", m["time"])
	}
	for _, k := range eventFields[6:] {
		if m[k] != nil {
			t.Errorf("%s = %v, want null", k, m[k])
		}
	}
}

func TestSubscribeAuth(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	for _, x := range []struct {
		name, path string
		k          key
		status     int
	}{
		{"env key v2-beta", "/v2-beta/subscribe?eventNames=resource.change", w.envKey1, 101},
		{"env key v1", "/v1/subscribe?eventNames=resource.change", w.envKey1, 101},
		{"env key own project", "/v2-beta/projects/" + w.env1 + "/subscribe", w.envKey1, 101},
		{"env key v1 own project", "/v1/projects/" + w.env1 + "/subscribe", w.envKey1, 101},
		{"env key other project", "/v2-beta/projects/" + w.env2 + "/subscribe", w.envKey1, 403},
		{"account key member", "/v2-beta/projects/" + w.env1 + "/subscribe", w.user, 101},
		{"account key not member", "/v2-beta/projects/" + w.env2 + "/subscribe", w.user, 403},
		{"account key unscoped", "/v2-beta/subscribe", w.user, 404},
		{"admin any project", "/v2-beta/projects/" + w.env2 + "/subscribe", w.admin, 101},
		{"admin no such project", "/v2-beta/projects/1a999/subscribe", w.admin, 403},
		{"admin unscoped", "/v1/subscribe", w.admin, 404},
		{"wrong secret", "/v2-beta/subscribe", key{w.envKey1.access, "nope"}, 401},
		{"no key", "/v2-beta/subscribe", key{}, 401},
		{"bad path", "/v2-beta/subscribe/x", w.envKey1, 404},
		{"no version", "/subscribe", w.envKey1, 404},
	} {
		t.Run(x.name, func(t *testing.T) {
			c, resp, err := wsDial(s, x.path, x.k)
			if x.status == 101 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.Close()
				if m := next(t, c, 2*time.Second); m["name"] != "ping" {
					t.Errorf("first message %v, want a ping", m)
				}
				return
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != x.status {
				t.Fatalf("dial = %v, %v; want status %d", err, resp, x.status)
			}
		})
	}

	// Without the upgrade, the subscribe path is not found; other methods are refused.
	resp, b := do(t, "GET", s.URL+"/v2-beta/subscribe", w.envKey1, "")
	if resp.StatusCode != 404 || decode(t, b)["code"] != "Not Found" {
		t.Errorf("GET without upgrade: %d %s", resp.StatusCode, b)
	}
	if resp, _ := do(t, "POST", s.URL+"/v2-beta/subscribe", w.envKey1, "{}"); resp.StatusCode != 405 {
		t.Errorf("POST: %d", resp.StatusCode)
	}

	// Refused as by an older Rancher or a proxy; then accepted again.
	for _, status := range []int{404, 403, 502} {
		o := fast
		o.Refuse = status
		s.SetEventOptions(o)
		_, resp, err := wsDial(s, "/v2-beta/subscribe", w.envKey1)
		if err == nil || resp == nil || resp.StatusCode != status {
			t.Fatalf("Refuse %d: %v %v", status, err, resp)
		}
	}
	s.SetEventOptions(fast)
	c := subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	next(t, c, 2*time.Second) // the first ping: the subscriber is registered
	if n := s.Subscribers(w.env1); n != 1 {
		t.Errorf("Subscribers = %d, want 1", n)
	}
}

func TestSubscribeMessages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	path := "/v2-beta/projects/" + w.env1 + "/subscribe?eventNames=resource.change"
	c := subscribe(t, s, path, w.user)

	ping := next(t, c, 2*time.Second)
	checkEventVO(t, ping)
	if ping["name"] != "ping" || ping["resourceType"] != nil || ping["resourceId"] != nil {
		t.Errorf("ping %v", ping)
	}
	if !reflect.DeepEqual(ping["data"], map[string]any{"options": map[string]any{}, "resources": []any{}}) {
		t.Errorf("ping data %v", ping["data"])
	}
	// Pings keep coming every PingInterval.
	start := time.Now()
	for i := 0; i < 3; i++ {
		if m := next(t, c, time.Second); m["name"] != "ping" {
			t.Fatalf("got %v, want a ping", m)
		}
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Errorf("3 pings in %v at a 50 ms interval", d)
	}

	base := s.URL + "/v2-beta/projects/" + w.env1
	// A registry added through the Go API arrives as the REST API renders it in the subscriber's URL space.
	reg := s.AddRegistry(w.env1, "999999999999.dkr.ecr.eu-west-1.amazonaws.com", "")
	m := nextChange(t, c, 2*time.Second)
	checkEventVO(t, m)
	if m["name"] != "resource.change" || m["resourceType"] != "registry" || m["resourceId"] != reg {
		t.Fatalf("event %v", m)
	}
	_, b := do(t, "GET", base+"/registries/"+reg, w.user, "")
	if got, want := m["data"].(map[string]any)["resource"], decode(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("data.resource = %v\nREST = %v", got, want)
	}

	// A credential created through REST: one event (batched), state active, secretValue null.
	resp, b := do(t, "POST", base+"/registrycredentials", w.user,
		`{"registryId":"`+reg+`","publicValue":"AWS","secretValue":"created-secret"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	cred := decode(t, b)["id"].(string)
	m = nextChange(t, c, 2*time.Second)
	res := m["data"].(map[string]any)["resource"].(map[string]any)
	if m["resourceType"] != "registryCredential" || m["resourceId"] != cred || res["state"] != "active" ||
		res["secretValue"] != nil || res["registryId"] != reg || res["publicValue"] != "AWS" {
		t.Errorf("credential event %v", m)
	}
	if strings.Contains(mustJSON(t, m), "created-secret") {
		t.Error("an event carries the secret")
	}

	// An edit through REST.
	if resp, b := do(t, "PUT", base+"/registrycredentials/"+cred, w.user, `{"publicValue":"someone"}`); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %s", resp.StatusCode, b)
	}
	m = nextChange(t, c, 2*time.Second)
	if m["resourceId"] != cred || m["data"].(map[string]any)["resource"].(map[string]any)["publicValue"] != "someone" {
		t.Errorf("edit event %v", m)
	}

	// A REST action, then SetState: each is one event with the state at publishing time.
	if resp, b := do(t, "POST", base+"/registrycredentials/"+cred+"?action=deactivate", w.user, ""); resp.StatusCode != 202 {
		t.Fatalf("deactivate: %d %s", resp.StatusCode, b)
	}
	m = nextChange(t, c, 2*time.Second)
	if m["resourceId"] != cred || m["data"].(map[string]any)["resource"].(map[string]any)["state"] != "inactive" {
		t.Errorf("action event %v", m)
	}

	// Batching: changes of one resource within a batch interval are one event, with the last state; changes in
	// another environment are not sent here.
	o := fast
	o.BatchInterval = 300 * time.Millisecond
	s.SetEventOptions(o)
	time.Sleep(350 * time.Millisecond) // the publisher picks the new interval at its next round
	for _, st := range []string{"activating", "active", "updating-active", "active"} {
		s.SetState(w.cred1, st)
	}
	s.SetState(w.cred2, "inactive")
	s.AddCredential(w.env2, w.reg2, "AWS", "x", "")
	m = nextChange(t, c, 2*time.Second)
	if m["resourceId"] != w.cred1 || m["data"].(map[string]any)["resource"].(map[string]any)["state"] != "active" {
		t.Errorf("batched event %v", m)
	}
	// Nothing else within two more batches but pings.
	_ = c.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			break
		}
		if !strings.Contains(string(b), `"name":"ping"`) {
			t.Errorf("unexpected message after the batch: %.200s", b)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSubscribeEventNames(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{EscapeSlashes: true})
	s := w.s
	s.SetEventOptions(fast)
	pings := subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	other := subscribe(t, s, "/v2-beta/subscribe?eventNames=service.update", w.envKey1)
	both := subscribe(t, s, "/v2-beta/subscribe?eventNames=ping&eventNames=resource.change", w.envKey1)
	registered(t, pings, other, both)
	s.SetState(w.cred1, "inactive")
	if n := s.EmitNoise(w.env1, 5); n != 5 {
		t.Fatalf("EmitNoise queued %d, want 5 (to the one subscriber of resource.change)", n)
	}
	// The change is queued once published: 6 messages in all, to the subscriber of resource.change only.
	waitFor(t, "the change published", 2*time.Second, func() bool { return s.PublishedEvents() >= 6 })
	if n := s.PublishedEvents(); n != 6 {
		t.Errorf("%d messages queued, want 6 (5 noise, 1 change) to one subscriber", n)
	}
	since := time.Now()
	for _, c := range []*websocket.Conn{pings, other} {
		pingsOnly(t, c, since)
	}
	// EscapeSlashes applies to the REST answers only: Cattle's event frames never escape "/".
	for {
		_ = both.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := both.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `\/`) {
			t.Errorf("a frame with escaped slashes: %.300s", b)
		}
		if strings.Contains(string(b), `"resourceType":"registryCredential"`) {
			if !strings.Contains(string(b), `"self":"http://`) {
				t.Errorf("no link in the event: %.300s", b)
			}
			break
		}
	}
	_, b := do(t, "GET", s.URL+"/v2-beta/registrycredentials/"+w.cred1, w.envKey1, "")
	if !strings.Contains(string(b), `"self":"http:\/\/`) {
		t.Errorf("the REST answer does not escape slashes: %.300s", b)
	}
}

func TestSubscribeNoise(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	c := subscribe(t, s, "/v2-beta/subscribe?eventNames=resource.change", w.envKey1)
	c2 := subscribe(t, s, "/v2-beta/subscribe?eventNames=resource.change", w.envKey2)
	registered(t, c, c2)
	if n := s.EmitNoise(w.env1, 400); n != 400 {
		t.Fatalf("EmitNoise queued %d", n)
	}
	types := map[string]int{}
	size := 0
	for i := 0; i < 400; {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d noise events: %v", i, err)
		}
		var m struct {
			Name, ResourceType string
			Data               struct{ Resource map[string]any }
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Name == "ping" {
			continue
		}
		i++
		types[m.ResourceType]++
		size += len(b)
		if m.ResourceType == "registry" || m.ResourceType == "registryCredential" || m.Data.Resource["accountId"] != w.env1 {
			t.Errorf("noise event %.200s", b)
		}
	}
	if len(types) != len(NoiseTypes) {
		t.Errorf("types %v", types)
	}
	if avg := size / 400; avg < 1500 || avg > 6000 {
		t.Errorf("average noise event %d bytes", avg)
	}
	// The other environment's subscriber got pings only: EmitNoise returns once every message is queued.
	pingsOnly(t, c2, time.Now())
}

// registered waits for the first frame of each socket: the dial returns at the 101, and the subscriber is
// registered after it (as in Cattle), then pinged. A change published before that never reaches the socket.
func registered(t *testing.T, cs ...*websocket.Conn) {
	t.Helper()
	for _, c := range cs {
		if m := next(t, c, 2*time.Second); m["name"] != "ping" {
			t.Fatalf("first frame %v, want a ping", m)
		}
	}
}

// pingsOnly reads c until two pings made after since, and fails on any other frame. A message queued before since
// is written right after the first ping made after since, at the latest: each round of the socket's writer sends
// the ping due, then everything queued.
func pingsOnly(t *testing.T, c *websocket.Conn, since time.Time) {
	t.Helper()
	for after := 0; after < 2; {
		m := next(t, c, 2*time.Second)
		if m["name"] != "ping" {
			t.Fatalf("got %.200s, want pings only", mustJSON(t, m))
		}
		if at, _ := m["time"].(float64); int64(at) > since.UnixMilli() {
			after++
		}
	}
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscribeDropAndClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	a := subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	b := subscribe(t, s, "/v2-beta/subscribe", w.envKey2)
	waitFor(t, "2 subscribers", time.Second, func() bool { return s.Subscribers("") == 2 })
	if n := s.DropSubscribers(); n != 2 {
		t.Errorf("DropSubscribers = %d", n)
	}
	for _, c := range []*websocket.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		var err error
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			t.Errorf("dropped socket got a close frame: %v", err)
		}
	}
	waitFor(t, "no subscribers", time.Second, func() bool { return s.Subscribers("") == 0 })

	c := subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	waitFor(t, "1 subscriber", time.Second, func() bool { return s.Subscribers("") == 1 })
	if n := s.CloseSubscribers(); n != 1 {
		t.Errorf("CloseSubscribers = %d", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var err error
	for err == nil {
		_, _, err = c.ReadMessage()
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("closed socket: %v, want close 1000", err)
	}

	// The 12-hour limit, in pings.
	o := fast
	o.MaxPings = 3
	s.SetEventOptions(o)
	c = subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	pings := 0
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for err = nil; err == nil; pings++ {
		_, _, err = c.ReadMessage()
	}
	if pings-1 != 3 || !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("%d pings then %v; want 3 then close 1000", pings-1, err)
	}
	if got := s.Subscriptions(); got != 4 {
		t.Errorf("Subscriptions = %d, want 4", got)
	}

	// SetDown drops the sockets too; Close ends them and returns.
	s.SetEventOptions(fast)
	subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	s.SetDown(true)
	waitFor(t, "no subscribers after SetDown", time.Second, func() bool { return s.Subscribers("") == 0 })
	s.SetDown(false)
	subscribe(t, s, "/v2-beta/subscribe", w.envKey1)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hangs with a subscriber")
	}
}

// TestSubscribeSlowSubscriber: as Cattle, messages that find a full queue are lost, and the socket then gets a
// normal close (1000) at its next ping tick, not a TCP reset; the messages queued before are delivered.
func TestSubscribeSlowSubscriber(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	o := fast
	o.MaxQueued = 2
	o.BatchInterval = 500 * time.Millisecond // ten changes made at once fall in one batch, or two: more than 2 in one
	o.PingInterval = 200 * time.Millisecond
	s.SetEventOptions(o)
	c := subscribe(t, s, "/v2-beta/projects/"+w.env1+"/subscribe?eventNames=resource.change", w.user)
	if m := next(t, c, 2*time.Second); m["name"] != "ping" {
		t.Fatalf("first frame %v", m)
	}
	for i := 0; i < 10; i++ {
		s.AddRegistry(w.env1, "slow-"+string(rune('a'+i))+".example.com", "")
	}
	changes := 0
	var err error
	for err == nil {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		var b []byte
		if _, b, err = c.ReadMessage(); err == nil && strings.Contains(string(b), `"name":"resource.change"`) {
			changes++
		}
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("the slow subscriber's socket ended with %v, want a close frame 1000", err)
	}
	if lost := s.LostMessages(); changes == 0 || changes+lost != 10 || lost == 0 {
		t.Errorf("%d changes delivered, %d lost; want some of each, 10 in all", changes, lost)
	}
	if got := s.DroppedSlow(); got != 1 {
		t.Errorf("DroppedSlow = %d, want 1", got)
	}
	waitFor(t, "no subscriber", time.Second, func() bool { return s.Subscribers(w.env1) == 0 })
}

// TestSubscribeLiveAtFirstPing: as Cattle, the 101 goes out before the subscriber is registered: a change published
// in between reaches the other subscribers but never this socket, and its first frame, a ping, comes only once
// the subscription is live.
func TestSubscribeLiveAtFirstPing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	earlier := subscribe(t, s, "/v2-beta/subscribe?eventNames=resource.change", w.envKey1)
	next(t, earlier, 2*time.Second)
	o := fast
	o.SubscribeDelay = 100 * time.Millisecond
	var lostReg atomic.Value
	var subscribersThen atomic.Int64
	o.BeforeSubscribe = func(env string) {
		subscribersThen.Store(int64(s.Subscribers(env)))
		lostReg.Store(s.AddRegistry(env, "between.example.com", ""))
	}
	s.SetEventOptions(o)
	start := time.Now()
	c := subscribe(t, s, "/v2-beta/projects/"+w.env1+"/subscribe?eventNames=resource.change", w.user)
	if m := next(t, c, 2*time.Second); m["name"] != "ping" {
		t.Fatalf("first frame %v, want a ping", m)
	}
	if d := time.Since(start); d < o.SubscribeDelay {
		t.Errorf("first ping %v after the dial, before SubscribeDelay %v", d, o.SubscribeDelay)
	}
	if subscribersThen.Load() != 1 || s.Subscribers(w.env1) != 2 {
		t.Errorf("subscribers: %d in BeforeSubscribe, %d after the first ping; want 1 and 2", subscribersThen.Load(), s.Subscribers(w.env1))
	}
	if m := nextChange(t, earlier, 2*time.Second); m["resourceId"] != lostReg.Load() {
		t.Errorf("the subscriber registered before got %v, want the change published in between", m["resourceId"])
	}
	for _, m := range changesUntil(t, c, s.AddRegistry(w.env1, "after.example.com", "")) {
		if m["resourceId"] == lostReg.Load() {
			t.Errorf("the change made before the subscription was delivered")
		}
	}
}

// changesUntil reads the frames of c up to the change of resource marker and returns the changes before it.
func changesUntil(t *testing.T, c *websocket.Conn, marker string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for {
		m := nextChange(t, c, 2*time.Second)
		if m["resourceId"] == marker {
			return out
		}
		out = append(out, m)
	}
}

// TestSubscribeWhatCattleDoesNotPublish: no change of the environment itself reaches its subscribers, nor a change
// of a resource purging or purged.
func TestSubscribeWhatCattleDoesNotPublish(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	c := subscribe(t, s, "/v2-beta/projects/"+w.env1+"/subscribe?eventNames=resource.change", w.admin)
	next(t, c, 2*time.Second)
	s.SetEnvironmentState(w.env1, "updating-active")
	s.SetState(w.reg1, "purging")
	s.SetState(w.cred1, "removed")
	s.SetState(w.cred1, "purged")
	for _, m := range changesUntil(t, c, s.AddRegistry(w.env1, "marker.example.com", "")) {
		if m["resourceType"] == "project" || m["resourceId"] == w.reg1 || m["resourceId"] == w.cred1 {
			t.Errorf("published: %v %v", m["resourceType"], m["resourceId"])
		}
	}
}

// TestSubscribeSendFrame: frames that are not Cattle's usual EventVOs reach the subscribers as given.
func TestSubscribeSendFrame(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	s.SetEventOptions(fast)
	c := subscribe(t, s, "/v2-beta/subscribe", w.envKey1) // no eventNames: still gets them
	next(t, c, 2*time.Second)
	if n := s.SendFrame(w.env1, []byte(LogoutFrame)); n != 1 {
		t.Fatalf("SendFrame = %d", n)
	}
	if n := s.SendFrame(w.env1, UnrenderableChange("registry", w.reg1)); n != 1 {
		t.Fatalf("SendFrame = %d", n)
	}
	if n := s.SendFrame(w.env2, []byte(LogoutFrame)); n != 0 {
		t.Fatalf("SendFrame to an environment without subscribers = %d", n)
	}
	m := nextChange(t, c, 2*time.Second)
	if len(m) != 1 || m["name"] != "logout" {
		t.Errorf("logout frame %v", m)
	}
	m = nextChange(t, c, 2*time.Second)
	checkEventVO(t, m)
	if d, ok := m["data"]; !ok || d != nil || m["resourceId"] != w.reg1 || m["resourceType"] != "registry" {
		t.Errorf("unrenderable change %v", m)
	}
}

// TestSubscribeSlowReader: a subscriber that does not read at all is cut once a write blocks for WriteTimeout, the
// others get every message, and the stand-in's request handling does not wait for it.
func TestSubscribeSlowReader(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	o := fast
	o.WriteTimeout = 200 * time.Millisecond
	s.SetEventOptions(o)
	// A small receive buffer, so that the socket fills after a few MB whatever the system's autotuning allows.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(w.envKey1.access+":"+w.envKey1.secret)))
	stuck, _, err := d.Dial(wsURL(s, "/v2-beta/subscribe?eventNames=resource.change"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	healthy := subscribe(t, s, "/v2-beta/projects/"+w.env1+"/subscribe?eventNames=resource.change", w.user)
	var got atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_ = healthy.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, b, err := healthy.ReadMessage()
			if err != nil {
				return
			}
			if strings.Contains(string(b), `"name":"resource.change"`) {
				got.Add(1)
			}
		}
	}()
	waitFor(t, "2 subscribers", time.Second, func() bool { return s.Subscribers(w.env1) == 2 })
	// Until the socket buffers are full and the write times out.
	sent := 0
	for deadline := time.Now().Add(10 * time.Second); s.DroppedSlow() == 0; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("the slow reader was not dropped after %d events", 500*sent)
		}
		s.EmitNoise(w.env1, 500)
		start := time.Now()
		if resp, _ := do(t, "GET", s.URL+"/v2-beta/registries", w.envKey1, ""); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("a REST request took %v while a subscriber did not read", d)
		}
	}
	waitFor(t, "1 subscriber", time.Second, func() bool { return s.Subscribers(w.env1) == 1 })
	time.Sleep(200 * time.Millisecond)
	if got := s.DroppedSlow(); got != 1 {
		t.Errorf("DroppedSlow = %d, want 1 (the healthy reader too?)", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < int64(500*sent) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := got.Load(); n != int64(500*sent) {
		t.Errorf("the healthy reader got %d of %d events", n, 500*sent)
	}
	_ = healthy.Close()
	<-readDone
}

// TestSubscribeDelay: with Delay, a change reaches the subscriber no sooner than Delay after it is published, and
// pings keep coming meanwhile.
func TestSubscribeDelay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Options{})
	s := w.s
	o := fast
	o.Delay = 400 * time.Millisecond
	s.SetEventOptions(o)
	c := subscribe(t, s, "/v2-beta/projects/"+w.env1+"/subscribe?eventNames=resource.change", w.user)
	if m := next(t, c, 2*time.Second); m["name"] != "ping" {
		t.Fatalf("first message %v, want a ping", m)
	}
	start := time.Now()
	reg := s.AddRegistry(w.env1, "999999999999.dkr.ecr.eu-west-1.amazonaws.com", "")
	pings := 0
	for {
		m := next(t, c, 3*time.Second)
		if m["name"] == "ping" {
			pings++
			continue
		}
		if m["resourceId"] != reg {
			t.Fatalf("event %v", m)
		}
		break
	}
	if d := time.Since(start); d < o.Delay {
		t.Errorf("the change arrived %v after it was made, with a delay of %v", d, o.Delay)
	}
	if pings == 0 {
		t.Error("no ping while the change was held")
	}
}
