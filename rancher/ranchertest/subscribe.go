package ranchertest

// The event stream: GET <origin>/v2-beta/projects/<id>/subscribe?eventNames=resource.change upgraded to a
// websocket, as Cattle 1.6 serves it (api-pub-sub SubscribeManager, NonBlockingSubscriptionHandler, EventVO).
//
// Facts emulated:
//   - The same Basic auth, 401/403/404 rules as the REST API. An Environment API key subscribes to its own
//     environment (/v2-beta/subscribe, /v1/subscribe or its own /projects/<id>/subscribe; another project is
//     403). An Account API key must use /projects/<id>/subscribe: unscoped it has no "subscribe" type (404).
//   - The 101 is committed before the subscription to the event bus (NonBlockingSubscriptionHandler.subscribe):
//     the subscriber is registered SubscribeDelay after the 101, and a change published in between never reaches
//     it. The first ping follows the registration: the subscription is live at the first frame, not at the 101.
//   - Every frame is one JSON EventVO with every field written out (nulls included), "/" never escaped (unlike the
//     REST answers with EscapeSlashes). A ping right after subscribing and then every PingInterval (Cattle: 5 s);
//     "resource.change" events only when eventNames names them (eventNames may repeat; without it, only pings).
//     What the client sends is read and ignored. SendFrame sends what Cattle sends besides: a bare
//     {"name":"logout"} (LogoutFrame), an event whose resource could not be rendered, "data": null
//     (UnrenderableChange).
//   - data.resource is the resource as the REST API renders it in the subscriber's URL space, secretValue null.
//   - Changes (REST creates, updates, actions, and the Go API: AddRegistry, AddCredential, SetState, ...) are
//     collected per resource and published once per BatchInterval (Cattle: 1 s) with the resource's state at
//     publishing time. Changes of environments (projects) are not published to their subscribers, nor changes of
//     a resource that is purging or purged at publishing time.
//   - A slow subscriber: a message that finds MaxQueued (100) messages queued is lost, and the socket gets a
//     normal close (1000) at its next ping tick instead of the ping. A write blocked for WriteTimeout (1 s) closes
//     the connection (no close frame can get through).
//   - After MaxPings pings (Cattle: 8,640, 12 hours) the server closes the socket with a close frame.
//
// Writes happen on each subscriber's own goroutine: request handling only marks changes and never waits on a
// socket.

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// EventOptions tune the event stream. The zero value of a field means Cattle's value.
type EventOptions struct {
	PingInterval  time.Duration // between pings; 0 means 5 s
	BatchInterval time.Duration // changes are published once per interval; 0 means 1 s
	WriteTimeout  time.Duration // a write blocked this long, or a full queue with no write for this long, drops the socket; 0 means 1 s
	MaxQueued     int           // messages queued per socket before the drop rule applies; 0 means 100
	MaxPings      int           // the server closes the socket (close frame 1000) after this many pings; 0 means 8,640, < 0 never

	// NoPings stops sending pings (on open sockets too): a client's read deadline must notice.
	NoPings bool
	// SubscribeDelay is the time between the 101 and the subscriber's registration (Cattle subscribes to its
	// event bus after committing the 101); 0 means none. Changes published meanwhile never reach the socket.
	SubscribeDelay time.Duration
	// BeforeSubscribe, when set, is called for each accepted socket after the 101 and SubscribeDelay, just before
	// the subscriber is registered, with the socket's environment. What it changes is published at once, to the
	// other subscribers only: a change published in that window never reaches the socket, as in Cattle. It may
	// call the Server's methods.
	BeforeSubscribe func(envID string)
	// Refuse answers every subscribe request with this status and a Cattle error body instead of the upgrade (as
	// an older Rancher or a proxy without websocket support would); 0 accepts.
	Refuse int
}

const (
	cattlePingInterval  = 5 * time.Second
	cattleBatchInterval = time.Second
	cattleWriteTimeout  = time.Second
	cattleMaxQueued     = 100
	cattleMaxPings      = 8640
	subscribeReadLimit  = 64 << 10
)

func (o EventOptions) withDefaults() EventOptions {
	if o.PingInterval <= 0 {
		o.PingInterval = cattlePingInterval
	}
	if o.BatchInterval <= 0 {
		o.BatchInterval = cattleBatchInterval
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = cattleWriteTimeout
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = cattleMaxQueued
	}
	if o.MaxPings == 0 {
		o.MaxPings = cattleMaxPings
	}
	return o
}

// eventHub is the stand-in's event stream state; the zero value is ready.
type eventHub struct {
	opts atomic.Pointer[EventOptions]

	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	running   bool // the publisher goroutine runs
	accepted  int  // subscriptions accepted since the start
	dropped   int  // sockets closed by the slow-reader rules
	published int  // resource.change messages queued to subscribers (noise included)
	lost      int  // messages lost to full queues

	clientCloses int // sockets the client closed with a close frame
}

// changeSet is the set of resources changed since the last publish. It lives in the store, guarded by Server.mu.
// While nobody subscribes, nothing is recorded (Cattle keeps no events for later subscribers).
type changeSet struct {
	watchers int
	pending  map[*resource]struct{}
}

func (c *changeSet) mark(r *resource) {
	if c.watchers == 0 {
		return
	}
	if c.pending == nil {
		c.pending = map[*resource]struct{}{}
	}
	c.pending[r] = struct{}{}
}

// SetEventOptions changes the event stream's settings. Ping interval, pings on or off and the drop rule apply to
// open sockets at their next step; Refuse applies to new subscribe requests.
func (s *Server) SetEventOptions(o EventOptions) {
	o = o.withDefaults()
	s.ev.opts.Store(&o)
}

// EventOptions returns the event stream's settings, defaults filled in.
func (s *Server) EventOptions() EventOptions {
	if o := s.ev.opts.Load(); o != nil {
		return *o
	}
	return EventOptions{}.withDefaults()
}

// Subscribers returns the number of open subscriber sockets (envID "" = all environments).
func (s *Server) Subscribers(envID string) int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	n := 0
	for sub := range s.ev.subs {
		if envID == "" || sub.envID == envID {
			n++
		}
	}
	return n
}

// Subscriptions returns the number of subscribe requests upgraded since the server started.
func (s *Server) Subscriptions() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.accepted
}

// ClosedByClient returns the number of sockets the client ended with a close frame.
func (s *Server) ClosedByClient() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.clientCloses
}

// DroppedSlow returns the number of sockets closed because their reader did not keep up: closed normally after
// losing messages, or cut after a write blocked for WriteTimeout.
func (s *Server) DroppedSlow() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.dropped
}

// LostMessages returns the number of messages lost because a subscriber's queue was full.
func (s *Server) LostMessages() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.lost
}

// PublishedEvents returns the number of resource.change messages queued to subscribers so far (one per
// subscriber per event).
func (s *Server) PublishedEvents() int {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	return s.ev.published
}

// DropSubscribers closes every subscriber's TCP connection at once, without a close frame (a network failure or
// a restarting Rancher), and returns how many there were.
func (s *Server) DropSubscribers() int {
	return s.endSubscribers(false)
}

// CloseSubscribers closes every subscriber socket with a close frame 1000, as Cattle does after 12 hours, and
// returns how many there were.
func (s *Server) CloseSubscribers() int {
	return s.endSubscribers(true)
}

func (s *Server) endSubscribers(graceful bool) int {
	s.ev.mu.Lock()
	subs := make([]*subscriber, 0, len(s.ev.subs))
	for sub := range s.ev.subs {
		subs = append(subs, sub)
	}
	s.ev.mu.Unlock()
	for _, sub := range subs {
		if graceful {
			sub.closeGracefully()
		} else {
			sub.drop()
		}
	}
	return len(subs)
}

// subscriber is one open socket.
type subscriber struct {
	conn    *websocket.Conn
	envID   string
	env     *resource
	base    string // link base of the subscriber's scope
	verBase string
	changes bool // eventNames names resource.change

	mu       sync.Mutex // guards conn (set once upgraded), queue
	queue    [][]byte
	wake     chan struct{} // a message was queued
	room     chan struct{} // the writer took the queue
	done     chan struct{}
	doneOnce sync.Once
	graceful atomic.Bool
	overflow atomic.Bool // messages were lost: close at the next ping tick
	slow     atomic.Bool // closed by a slow-reader rule (counted once)
}

func (sub *subscriber) stop() { sub.doneOnce.Do(func() { close(sub.done) }) }

func (sub *subscriber) isDone() bool {
	select {
	case <-sub.done:
		return true
	default:
		return false
	}
}

// drop closes the connection without a close frame.
func (sub *subscriber) drop() {
	sub.stop()
	sub.mu.Lock()
	c := sub.conn
	sub.mu.Unlock()
	if c != nil {
		_ = c.NetConn().Close()
	}
}

// setConn sets the socket once upgraded, and closes it at once if the subscriber was dropped meanwhile.
func (sub *subscriber) setConn(c *websocket.Conn) {
	sub.mu.Lock()
	sub.conn = c
	sub.mu.Unlock()
	select {
	case <-sub.done:
		if !sub.graceful.Load() { // a graceful close is written by the subscriber's own goroutine
			_ = c.NetConn().Close()
		}
	default:
	}
}

func (sub *subscriber) closeGracefully() {
	sub.graceful.Store(true)
	sub.stop()
}

// offer queues as many of msgs as fit under limit queued messages and returns how many it queued.
func (sub *subscriber) offer(msgs [][]byte, limit int) int {
	sub.mu.Lock()
	n := max(min(len(msgs), limit-len(sub.queue)), 0)
	sub.queue = append(sub.queue, msgs[:n]...)
	sub.mu.Unlock()
	if n > 0 {
		select {
		case sub.wake <- struct{}{}:
		default:
		}
	}
	return n
}

func (sub *subscriber) take() [][]byte {
	sub.mu.Lock()
	q := sub.queue
	sub.queue = nil
	sub.mu.Unlock()
	select {
	case sub.room <- struct{}{}:
	default:
	}
	return q
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 8192,
	// Cattle does not check the Origin header of API key clients.
	CheckOrigin: func(*http.Request) bool { return true },
}

// subscribe serves a subscribe request (already authenticated and scoped by resolve) for the life of the socket.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, c *call) int {
	o := s.EventOptions()
	switch {
	case r.Method != http.MethodGet:
		return s.fail(w, c, http.StatusMethodNotAllowed, "", "", "")
	case o.Refuse != 0:
		return s.fail(w, c, o.Refuse, "", "", "")
	case c.env == nil: // an Account API key outside a project scope has no subscribe type
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	case !websocket.IsWebSocketUpgrade(r):
		return s.fail(w, c, http.StatusNotFound, "", "", "")
	}
	changes := false
	for _, n := range r.URL.Query()["eventNames"] {
		changes = changes || n == "resource.change"
	}
	// The answer to the upgrade carries none of the REST headers.
	for k := range w.Header() {
		delete(w.Header(), k)
	}
	sub := &subscriber{
		env: c.env, envID: c.env.id, base: c.base, verBase: c.verBase, changes: changes,
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{}),
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return http.StatusBadRequest // Upgrade answered already
	}
	sub.setConn(conn)
	s.ev.mu.Lock()
	s.ev.accepted++
	s.ev.mu.Unlock()

	// Read and ignore what the client sends; a read error (its close frame included) ends the socket.
	conn.SetReadLimit(subscribeReadLimit)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					s.ev.mu.Lock()
					s.ev.clientCloses++
					s.ev.mu.Unlock()
				}
				sub.stop()
				return
			}
		}
	}()
	// As Cattle: the 101 is out; the subscription to the event bus comes after it, and the first ping after that.
	if s.wait(r.Context(), o.SubscribeDelay) && !sub.isDone() {
		if o.BeforeSubscribe != nil {
			o.BeforeSubscribe(sub.envID)
			s.publishPending() // what it changed is published now, before this subscriber is registered
		}
		s.addSubscriber(sub)
		s.lifeMu.Lock()
		down := s.down // SetDown sets down, then drops the subscribers it finds: one of the two sees the other
		s.lifeMu.Unlock()
		if down {
			sub.drop()
		}
		s.writeLoop(sub)
		s.removeSubscriber(sub)
	}
	if sub.graceful.Load() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
			time.Now().Add(time.Second))
		select { // let the client answer the close frame
		case <-readDone:
		case <-time.After(time.Second):
		case <-s.closed:
		}
	}
	_ = conn.NetConn().Close()
	<-readDone
	return http.StatusSwitchingProtocols
}

func (s *Server) addSubscriber(sub *subscriber) {
	s.mu.Lock()
	s.st.changes.watchers++
	s.mu.Unlock()
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	if s.ev.subs == nil {
		s.ev.subs = map[*subscriber]struct{}{}
	}
	s.ev.subs[sub] = struct{}{}
	if !s.ev.running {
		// Started from a running handler, so the handler count is above zero: Add is safe against Close's Wait.
		s.ev.running = true
		s.handlers.Add(1)
		go s.publishLoop()
	}
}

func (s *Server) removeSubscriber(sub *subscriber) {
	s.ev.mu.Lock()
	delete(s.ev.subs, sub)
	s.ev.mu.Unlock()
	s.mu.Lock()
	if s.st.changes.watchers--; s.st.changes.watchers == 0 {
		s.st.changes.pending = nil
	}
	s.mu.Unlock()
}

// writeLoop sends pings and queued messages until the socket ends.
func (s *Server) writeLoop(sub *subscriber) {
	pings := 0
	nextPing := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		o := s.EventOptions()
		if !o.NoPings && !time.Now().Before(nextPing) {
			if sub.overflow.Load() { // messages were lost: Cattle closes the socket normally at its ping tick
				for _, m := range sub.take() { // what was queued goes out first
					if !s.write(sub, m, &o) {
						return
					}
				}
				s.countSlow(sub)
				sub.graceful.Store(true)
				return
			}
			if o.MaxPings > 0 && pings >= o.MaxPings {
				sub.graceful.Store(true)
				return
			}
			if !s.write(sub, pingMessage(), &o) {
				return
			}
			pings++
			nextPing = time.Now().Add(o.PingInterval)
		}
		for _, m := range sub.take() {
			if !s.write(sub, m, &o) {
				return
			}
		}
		wait := o.PingInterval
		if !o.NoPings {
			wait = time.Until(nextPing)
		}
		timer.Reset(max(wait, 0))
		select {
		case <-timer.C:
		case <-sub.wake:
		case <-sub.done:
			return
		case <-s.closed:
			return
		}
	}
}

func (s *Server) write(sub *subscriber, m []byte, o *EventOptions) bool {
	select {
	case <-sub.done:
		return false
	default:
	}
	_ = sub.conn.SetWriteDeadline(time.Now().Add(o.WriteTimeout))
	if err := sub.conn.WriteMessage(websocket.TextMessage, m); err != nil {
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			s.countSlow(sub)
		}
		return false
	}
	return true
}

// countSlow counts a socket closed by a slow-reader rule, once.
func (s *Server) countSlow(sub *subscriber) {
	if sub.slow.CompareAndSwap(false, true) {
		s.ev.mu.Lock()
		s.ev.dropped++
		s.ev.mu.Unlock()
	}
}

// publishLoop publishes the collected changes once per BatchInterval while anyone subscribes.
func (s *Server) publishLoop() {
	defer s.handlers.Done()
	for {
		t := time.NewTimer(s.EventOptions().BatchInterval)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
			s.ev.mu.Lock()
			s.ev.running = false
			s.ev.mu.Unlock()
			return
		}
		s.ev.mu.Lock()
		if len(s.ev.subs) == 0 {
			s.ev.running = false
			s.ev.mu.Unlock()
			return
		}
		s.ev.mu.Unlock()
		s.publishPending()
	}
}

// publishPending publishes the changes collected so far to the subscribers registered now.
func (s *Server) publishPending() {
	s.ev.mu.Lock()
	subs := make([]*subscriber, 0, len(s.ev.subs))
	for sub := range s.ev.subs {
		if sub.changes {
			subs = append(subs, sub)
		}
	}
	s.ev.mu.Unlock()
	s.publish(subs)
}

// publish renders the pending changes for each subscriber that sees them and queues them.
func (s *Server) publish(subs []*subscriber) {
	s.mu.Lock()
	pending := s.st.changes.pending
	s.st.changes.pending = nil
	if len(pending) == 0 || len(subs) == 0 {
		s.mu.Unlock()
		return
	}
	changed := make([]*resource, 0, len(pending))
	for r := range pending {
		changed = append(changed, r)
	}
	sort.Slice(changed, func(i, j int) bool {
		if changed[i].kind != changed[j].kind {
			return changed[i].kind < changed[j].kind
		}
		return changed[i].num < changed[j].num
	})
	out := make(map[*subscriber][][]byte, len(subs))
	now := time.Now().UnixMilli()
	for _, r := range changed {
		// Cattle publishes no change of the environment itself to its subscribers, and none of a resource being
		// purged.
		if r.kind == kProject || r.state == "purging" || r.state == "purged" {
			continue
		}
		rendered := map[string][]byte{} // by link base: subscribers in one URL space share a message
		for _, sub := range subs {
			if sub.env != r.env {
				continue
			}
			m, ok := rendered[sub.base]
			if !ok {
				e := getEnc(false) // Cattle's event frames never escape "/"
				writeChangeEvent(e, r, sub.base, sub.verBase, now)
				m = bytes.Clone(e.b)
				putEnc(e)
				rendered[sub.base] = m
			}
			out[sub] = append(out[sub], m)
		}
	}
	s.mu.Unlock()
	s.deliver(out)
}

// deliver queues messages to subscribers at once, as Cattle's publisher does: a message that finds a full queue
// is lost, and its socket is closed at its next ping tick.
func (s *Server) deliver(out map[*subscriber][][]byte) {
	o := s.EventOptions()
	n, lost := 0, 0
	for sub, msgs := range out {
		k := sub.offer(msgs, o.MaxQueued)
		n += k
		if k < len(msgs) {
			lost += len(msgs) - k
			sub.overflow.Store(true)
		}
	}
	s.count(n, lost)
}

func (s *Server) count(published, lost int) {
	s.ev.mu.Lock()
	s.ev.published += published
	s.ev.lost += lost
	s.ev.mu.Unlock()
}

// feed queues msgs to one subscriber, waiting for room while its reader keeps taking messages: a reader that
// leaves a full queue untouched for WriteTimeout loses the rest (and its socket is closed at its next ping tick).
// It returns how many messages it queued.
func (s *Server) feed(sub *subscriber, msgs [][]byte, o *EventOptions) int {
	n := 0
	for {
		k := sub.offer(msgs, o.MaxQueued)
		n, msgs = n+k, msgs[k:]
		if len(msgs) == 0 {
			return n
		}
		t := time.NewTimer(o.WriteTimeout)
		select {
		case <-sub.room:
			t.Stop()
			continue
		case <-t.C:
		case <-sub.done:
			t.Stop()
		case <-s.closed:
			t.Stop()
		}
		s.count(0, len(msgs))
		sub.overflow.Store(true)
		return n
	}
}

// writeChangeEvent writes a resource.change EventVO for a resource in a subscriber's URL space.
func writeChangeEvent(e *enc, r *resource, base, verBase string, now int64) {
	writeChangeHead(e, resourceTypeOf(r), r.id)
	e.raw(`{"resource":`)
	writeResource(e, r, base, verBase, r.state, false)
	e.raw(`},"time":`)
	e.int(now)
	writeEventTail(e)
}

// writeChangeHead writes the start of a resource.change EventVO, up to its "data": (type or id "" is null).
func writeChangeHead(e *enc, resourceType, resourceID string) {
	e.raw(`{"id":`)
	e.str(newUUID())
	e.raw(`,"name":"resource.change","resourceType":`)
	e.nstr(resourceType)
	e.raw(`,"resourceId":`)
	e.nstr(resourceID)
	e.raw(`,"data":`)
}

func resourceTypeOf(r *resource) string {
	switch r.kind {
	case kProject:
		return "project"
	case kRegistry:
		return "registry"
	case kService:
		return r.svc.kind
	}
	return "registryCredential"
}

// writeEventTail writes the EventVO fields Cattle leaves null in what it publishes, and closes the object.
func writeEventTail(e *enc) {
	e.raw(`,"replyTo":null,"publisher":null,"transitioning":null,"transitioningMessage":null,` +
		`"transitioningInternalMessage":null,"transitioningProgress":null,"previousIds":null,"previousNames":null,` +
		`"timeoutMillis":null,"context":null}`)
}

func pingMessage() []byte {
	e := getEnc(false)
	defer putEnc(e)
	e.raw(`{"id":`)
	e.str(newUUID())
	e.raw(`,"name":"ping","resourceType":null,"resourceId":null,"data":{"options":{},"resources":[]},"time":`)
	e.int(time.Now().UnixMilli())
	writeEventTail(e)
	return bytes.Clone(e.b)
}

// NoiseTypes are the resource types EmitNoise cycles through.
var NoiseTypes = []string{"container", "instance", "service", "host", "volume", "mount", "ipAddress", "stack"}

// noisePrefix is Cattle's id prefix of each noise type.
var noisePrefix = map[string]string{"container": "1i", "instance": "1i", "service": "1s", "host": "1h", "volume": "1v",
	"mount": "1mt", "ipAddress": "1ia", "stack": "1st"}

// EmitNoise queues n resource.change events of other types (container, instance, service, host, volume, ...),
// about 1.5 to 6 KB each like Cattle's, to every subscriber of the environment that asked for resource.change,
// not batched, and returns how many messages it queued. It paces the flood to each reader, as events spread
// over time reach a socket: it waits for room in a full queue while the reader takes messages, so a reader that
// keeps reading loses none; one that leaves a full queue untouched for WriteTimeout loses the rest (and is closed
// at its next ping tick). It returns once every message is queued or lost. Noise is not stored: a REST list does
// not show it.
func (s *Server) EmitNoise(envID string, n int) int {
	s.ev.mu.Lock()
	var subs []*subscriber
	for sub := range s.ev.subs {
		if sub.envID == envID && sub.changes {
			subs = append(subs, sub)
		}
	}
	s.ev.mu.Unlock()
	if len(subs) == 0 || n <= 0 {
		return 0
	}
	bases := map[string][][]byte{}
	o := s.EventOptions()
	var wg sync.WaitGroup
	var queued atomic.Int64
	for _, sub := range subs {
		msgs, ok := bases[sub.base]
		if !ok {
			msgs = make([][]byte, n)
			for i := range msgs {
				msgs[i] = noiseEvent(sub.base, envID, i)
			}
			bases[sub.base] = msgs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			queued.Add(int64(s.feed(sub, msgs, &o)))
		}()
	}
	wg.Wait()
	s.count(int(queued.Load()), 0)
	return int(queued.Load())
}

// LogoutFrame is the bare frame Cattle sends a subscriber when its token logs out (not an EventVO).
const LogoutFrame = `{"name":"logout"}`

// UnrenderableChange is the resource.change EventVO Cattle publishes for a resource it could not render for the
// subscriber (a ClientVisibleException while rendering): "data": null.
func UnrenderableChange(resourceType, resourceID string) []byte {
	e := getEnc(false)
	defer putEnc(e)
	writeChangeHead(e, resourceType, resourceID)
	e.raw(`null,"time":`)
	e.int(time.Now().UnixMilli())
	writeEventTail(e)
	return bytes.Clone(e.b)
}

// SendFrame queues one text frame, as given, to every subscriber of the environment (whatever its eventNames),
// as the publisher does (a full queue loses it), and returns how many subscribers it was queued to: LogoutFrame,
// UnrenderableChange, or anything else a test needs a client to meet.
func (s *Server) SendFrame(envID string, frame []byte) int {
	s.ev.mu.Lock()
	out := map[*subscriber][][]byte{}
	for sub := range s.ev.subs {
		if sub.envID == envID {
			out[sub] = [][]byte{bytes.Clone(frame)}
		}
	}
	s.ev.mu.Unlock()
	o := s.EventOptions()
	n := 0
	for sub, msgs := range out {
		if sub.offer(msgs, o.MaxQueued) == 1 {
			n++
		} else {
			s.count(0, 1)
			sub.overflow.Store(true)
		}
	}
	return n
}

// noiseEvent renders the i-th noise event: a resource of a type the updater does not care about, shaped like
// Cattle's (links, actions, labels, a launch configuration or host info).
func noiseEvent(base, envID string, i int) []byte {
	typ := NoiseTypes[i%len(NoiseTypes)]
	id := noisePrefix[typ] + strconv.Itoa(1000+i)
	e := getEnc(false)
	defer putEnc(e)
	writeChangeHead(e, typ, id)
	e.raw(`{"resource":{"id":`)
	e.str(id)
	e.raw(`,"type":`)
	e.str(typ)
	e.raw(`,"links":{`)
	for j, l := range []string{"self", "account", "hosts", "instances", "volumes", "ports", "stats", "containerStats", "logs"} {
		if j > 0 {
			e.raw(",")
		}
		e.key(l)
		e.strs(base, "/", typ, "s/", id, "/", l)
	}
	e.raw(`},"actions":{`)
	for j, a := range []string{"update", "stop", "restart", "migrate", "logs", "execute", "proxy", "console"} {
		if j > 0 {
			e.raw(",")
		}
		e.key(a)
		e.strs(base, "/", typ, "s/", id, "/?action=", a)
	}
	e.raw(`},"baseType":`)
	e.str(typ)
	e.raw(`,"name":`)
	e.str(fmt.Sprintf("stack-%d-%s-%d", i%17, typ, i))
	e.raw(`,"state":"running","accountId":`)
	e.str(envID)
	e.raw(`,"created":"2026-11-29T09:00:00Z","createdTS":1795856400000,"description":null,"healthState":"healthy",` +
		`"imageUuid":"docker:example.com/team/app:1.2.3","kind":`)
	e.str(typ)
	e.raw(`,"labels":{`)
	labels := 4 + i%24 // 1.5 KB to 6 KB in all
	for j := 0; j < labels; j++ {
		if j > 0 {
			e.raw(",")
		}
		e.raw(`"io.rancher.label.`)
		e.int(int64(j))
		e.raw(`":`)
		e.strs("value-of-a-fairly-long-label-", strconv.Itoa(i), "-", strconv.Itoa(j), "-abcdefghijklmnopqrstuvwxyz")
	}
	e.raw(`},"environment":{"PATH":"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG":"C.UTF-8"},` +
		`"ports":["8080:8080/tcp"],"primaryIpAddress":"10.42.`)
	e.int(int64(i % 250))
	e.raw(`.`)
	e.int(int64(i%250 + 1))
	e.raw(`","removed":null,"transitioning":"no","transitioningMessage":null,"transitioningProgress":null,"uuid":`)
	e.str(newUUID())
	e.raw(`}},"time":`)
	e.int(time.Now().UnixMilli())
	writeEventTail(e)
	return bytes.Clone(e.b)
}
