package rancher

// The event stream of an environment: Rancher 1.6 pushes every change over a websocket,
// <origin>/v2-beta/projects/<id>/subscribe?eventNames=resource.change, one JSON EventVO per frame: a ping right
// after subscribing and every 5 s, and resource.change events, which Cattle collects per resource and publishes
// once a second. Cattle answers the 101 before it subscribes to its event bus and pings once subscribed, so the
// stream is live at its first frame, not at the 101. A subscriber with more than 100 messages queued loses
// messages and is closed normally at its next ping tick, and every socket is closed after 12 hours. Not every
// frame is an event: a bare {"name":"logout"}, or a change whose resource Cattle could not render ("data": null).
// A Rancher that is too old, or a proxy that does not pass websockets, answers the upgrade with 404 or similar;
// a Rancher that is restarting behind a load balancer answers 502, 503 or 504 for a while.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ecr-updater/ecr-updater/internal/setting"
)

// Resource types whose changes Watch reports; every other type is discarded unread.
const (
	TypeRegistry           = "registry"
	TypeRegistryCredential = "registryCredential"
	TypeService            = "service" // every kind of service is reported as this type
)

// Defaults of WatchOptions.
const (
	// DefaultReadTimeout is how long a socket may stay silent: about twice Cattle's 5 s ping interval (the
	// Rancher UI uses 11 s).
	DefaultReadTimeout = 11 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait between two connection attempts.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultMaxDialBackoff is the longest wait after an attempt that never went live (no answer, a passing
	// answer such as a restarting Rancher's 502, a socket closed before its first frame): such an attempt costs
	// one request and no re-read, and a Rancher that restarts for minutes is then picked up within seconds of
	// answering 101 again.
	DefaultMaxDialBackoff = 5 * time.Second
	// DefaultUnavailableBackoff is the first wait after Rancher refused the upgrade: at most a few attempts a
	// minute where the stream does not exist.
	DefaultUnavailableBackoff = 20 * time.Second
	// DefaultStableAfter is how long a connection must have lived to count as healthy, so that its end restarts
	// the backoff: several of Cattle's 5 s pings. A stream that keeps dropping sooner backs off, each connection
	// costing a re-read.
	DefaultStableAfter = 30 * time.Second
	// DefaultMaxMessageBytes bounds one frame; a larger one closes the socket (and Watch reconnects).
	DefaultMaxMessageBytes = 1 << 20
	// DefaultMaxPending bounds the changes kept for a busy handler before they are folded into one Overflow.
	DefaultMaxPending = 1024
)

// WatchOptions tune Watch. The zero value is right for Rancher.
type WatchOptions struct {
	ReadTimeout        time.Duration // no frame (a ping included) for this long: the socket is dead; 0 means DefaultReadTimeout
	MinBackoff         time.Duration // first wait after a failure; 0 means DefaultMinBackoff
	MaxBackoff         time.Duration // longest wait; 0 means DefaultMaxBackoff
	MaxDialBackoff     time.Duration // longest wait after an attempt that never went live (at most MaxBackoff); 0 means DefaultMaxDialBackoff
	UnavailableBackoff time.Duration // first wait after the upgrade was refused; 0 means DefaultUnavailableBackoff
	StableAfter        time.Duration // a connection that lived this long restarts the backoff when it ends; 0 means DefaultStableAfter
	MaxMessageBytes    int64         // largest frame read; 0 means DefaultMaxMessageBytes
	MaxPending         int           // distinct changes kept while the handler is busy; 0 means DefaultMaxPending

	// Services also reports changes of services (of every kind: "service", "loadBalancerService", ...), as
	// Changed events of ResourceType TypeService: registries discovered from the images services use.
	Services bool

	// Frame, when set, is called in the read loop for every frame with its event name ("ping",
	// "resource.change", ...) and resource type ("" for none), before it is discarded or decoded: for counters.
	// It must return at once.
	Frame func(name, resourceType string)
}

// EventKind says what an Event reports.
type EventKind int

const (
	// Connected: the socket is open and subscribed: its first frame (Cattle's first ping, written once the
	// subscription is in place) arrived. Changes made before are not replayed, those made between the 101 and the
	// subscription included: re-read now.
	Connected EventKind = iota + 1
	// Disconnected: the socket closed or failed (Err says why; nil when the server closed it normally, as Cattle
	// does after 12 hours or after a slow reader lost messages), or a connection attempt failed as a restarting
	// Rancher's do: no answer (refused, reset, timed out) or a passing HTTP answer (5xx, 408, 429; Status says
	// which). Watch reconnects after RetryIn, a short backoff.
	Disconnected
	// Unavailable: Rancher (or a proxy) answered the upgrade with Status, an answer that means there is no stream
	// here: an older Rancher, a proxy without websocket support, a key that may not subscribe (400, 401, 403, 404,
	// 405, 426, a redirect, a 200 page). Watch tries again after RetryIn, a long backoff; Attempt counts the
	// refusals in a row (log a warning when it is 1).
	Unavailable
	// Changed: a registry or registry credential changed (ResourceType, ResourceID and the fields below).
	Changed
	// Overflow: more changes arrived while the handler was busy than MaxPending; their details were dropped.
	// Re-read the environment.
	Overflow
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Unavailable:
		return "unavailable"
	case Changed:
		return "changed"
	case Overflow:
		return "overflow"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what Watch reports to its handler.
type Event struct {
	Kind  EventKind
	EnvID string // the environment watched: as given to Watch, or as CATTLE_URL or the key names it ("" if neither does)

	// Changed: the resource as the event shows it.
	ResourceType string // TypeRegistry, TypeRegistryCredential or TypeService
	ResourceID   string
	RegistryID   string // a credential's registry
	// Images are a service's: the imageUuid of its launchConfig, then of each secondaryLaunchConfig (sidekick), in
	// order; none for a service without a launchConfig (external, DNS).
	Images []string

	// Disconnected and Unavailable.
	Err     error
	Status  int           // the HTTP status answered instead of 101 (Unavailable; Disconnected: a passing one), 0 for none
	Attempt int           // Disconnected and Unavailable: failures of this kind in a row, this one included
	RetryIn time.Duration // when Watch tries again
}

// Watch follows the event stream of one environment until ctx is done, reconnecting with jittered backoff. envID
// "" means the environment CATTLE_URL names, or else the key's own environment (an Environment API key's), like
// Open. The socket goes through the same TLS settings, proxy and dialer as the REST requests, to the configured
// origin only, and never follows a redirect.
//
// h receives the events in order, from one goroutine, never concurrently, and never after Watch returns. It may
// block (make REST calls): meanwhile Watch keeps reading, discards unrelated events, and keeps the changes pending,
// folding repeated changes of one resource into its latest (and, beyond MaxPending, all of them into one
// Overflow). A change is a trigger to re-read: none is lost as long as one is pending.
//
// Watch returns nil once ctx is done (after sending a close frame and telling h Disconnected if it was
// connected), or at once an error for a call that can never work.
func (s *Server) Watch(ctx context.Context, envID string, o WatchOptions, h func(Event)) error {
	if h == nil {
		return errors.New("watch: no handler")
	}
	if o.ReadTimeout < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 || o.MaxDialBackoff < 0 || o.UnavailableBackoff < 0 ||
		o.StableAfter < 0 || o.MaxMessageBytes < 0 || o.MaxPending < 0 {
		return errors.New("watch: negative option")
	}
	o = o.withDefaults()
	target, err := s.subscribeURL(envID)
	if err != nil {
		return err
	}
	d, err := s.dialer()
	if err != nil {
		return err
	}
	w := &watch{s: s, env: s.watchedEnv(envID), target: target, dialer: d, o: o, h: h,
		q: newEventQueue(o.MaxPending), stopped: make(chan struct{})}
	return w.run(ctx)
}

// Watch follows the event stream of this environment; see Server.Watch.
func (e *Env) Watch(ctx context.Context, o WatchOptions, h func(Event)) error {
	return e.srv.Watch(ctx, e.ID(), o, h)
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxDialBackoff == 0 {
		o.MaxDialBackoff = DefaultMaxDialBackoff
	}
	o.MaxDialBackoff = min(max(o.MaxDialBackoff, o.MinBackoff), o.MaxBackoff)
	if o.UnavailableBackoff == 0 {
		o.UnavailableBackoff = DefaultUnavailableBackoff
	}
	if o.StableAfter == 0 {
		o.StableAfter = DefaultStableAfter
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	return o
}

// watchedEnv is the id of the environment a Watch of envID follows, "" when only Rancher knows it.
func (s *Server) watchedEnv(envID string) string {
	switch {
	case envID != "":
		return envID
	case s.endpoint.Project != "":
		return s.endpoint.Project
	}
	return s.BoundEnvironment() // an Environment API key's or an agent key's account is its environment
}

// subscribeURL is the ws:// or wss:// URL of an environment's event stream on the configured origin.
func (s *Server) subscribeURL(envID string) (string, error) {
	if envID == "" {
		envID = s.endpoint.Project
	}
	scheme, rest, ok := strings.Cut(s.endpoint.Origin, "://")
	if !ok {
		return "", fmt.Errorf("watch: bad origin")
	}
	switch scheme {
	case "http":
		scheme = "ws"
	case "https":
		scheme = "wss"
	default:
		return "", fmt.Errorf("watch: scheme %q", scheme)
	}
	path := "/v2-beta/subscribe" // the key's own environment
	if envID != "" {
		path = "/v2-beta/projects/" + url.PathEscape(envID) + "/subscribe"
	} else if s.IsAccountKey() {
		return "", errors.New("watch: an Account API key must name the environment (" + setting.Environments.String() + " or an Environment API Endpoint)")
	}
	return scheme + "://" + rest + path + "?eventNames=resource.change", nil
}

// dialer is a websocket dialer with the REST transport's TLS settings, proxy and dialer.
func (s *Server) dialer() (*websocket.Dialer, error) {
	var t *http.Transport
	switch rt := s.http.Transport.(type) {
	case *http.Transport:
		t = rt
	case interface{ base() *http.Transport }: // a wrapper around the route's transport
		t = rt.base()
	default:
		return nil, errors.New("watch: the server has no HTTP transport")
	}
	var tlsConfig = t.TLSClientConfig.Clone()
	if tlsConfig != nil {
		// net/http adds "h2" to the shared config; a websocket upgrade needs HTTP/1.1.
		tlsConfig.NextProtos = []string{"http/1.1"}
	}
	return &websocket.Dialer{
		NetDialContext:   t.DialContext,
		Proxy:            t.Proxy,
		TLSClientConfig:  tlsConfig,
		HandshakeTimeout: s.opts.Timeout,
		ReadBufferSize:   16 << 10,
		WriteBufferSize:  512,
	}, nil
}

type watch struct {
	s      *Server
	env    string
	target string
	dialer *websocket.Dialer
	o      WatchOptions
	h      func(Event)

	q       *eventQueue
	stopped chan struct{} // closed when the delivery goroutine has returned
	buf     bytes.Buffer
}

// errStale is the read deadline firing: no frame within ReadTimeout.
var errStale = errors.New("no message within the read timeout")

func (w *watch) run(ctx context.Context) error {
	go w.deliver(ctx)
	defer func() { <-w.stopped }()
	var fails, refusals int
	for {
		conn, resp, err := w.dial(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				_ = conn.Close()
			}
			return nil
		}
		var wait time.Duration
		switch {
		case err != nil && resp != nil && !passing(resp.StatusCode):
			refusals++
			fails = 0
			wait = backoff(w.o.UnavailableBackoff, w.o.MaxBackoff, refusals)
			w.q.push(Event{Kind: Unavailable, EnvID: w.env, Err: err, Status: resp.StatusCode, Attempt: refusals, RetryIn: wait})
		case err != nil: // no answer, or a passing one: a restarting Rancher is back within seconds
			fails++
			refusals = 0
			wait = backoff(w.o.MinBackoff, w.o.MaxDialBackoff, fails)
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			w.q.push(Event{Kind: Disconnected, EnvID: w.env, Err: err, Status: status, Attempt: fails, RetryIn: wait})
		default:
			refusals = 0
			start := time.Now()
			live, err := w.read(ctx, conn)
			if ctx.Err() != nil {
				w.q.stop()
				<-w.stopped
				w.h(Event{Kind: Disconnected, EnvID: w.env, Err: ctx.Err()})
				return nil
			}
			// Only a connection that lived a while was healthy: one that went live and dropped soon after (a
			// flapping proxy, a Rancher that closes at once) keeps backing off up to MaxBackoff, since each costs
			// the caller a re-read; one that never went live cost nothing more than a failed attempt.
			if time.Since(start) >= w.o.StableAfter {
				fails = 0
			}
			fails++
			most := w.o.MaxBackoff
			if !live {
				most = w.o.MaxDialBackoff
			}
			wait = backoff(w.o.MinBackoff, most, fails)
			w.q.push(Event{Kind: Disconnected, EnvID: w.env, Err: err, Attempt: fails, RetryIn: wait})
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// passing reports whether an HTTP answer to the upgrade is a passing fault (a Rancher restarting behind a load
// balancer answers 502, 503 or 504 for a while; 408 and 429 ask to come back) rather than a sign that there is no
// stream here (400, 401, 403, 404, 405, 426, a redirect, a 200 page).
func passing(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// backoff is the n-th wait (n >= 1): first doubled n-1 times, capped at most, drawn between half and all of it.
func backoff(first, most time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	return d/2 + rand.N(d/2+1)
}

// dial opens the socket. An HTTP answer other than 101 comes back with its response and an *Error.
func (w *watch) dial(ctx context.Context) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(w.s.opts.AccessKey+":"+w.s.opts.SecretKey.Reveal())))
	hdr.Set("X-API-No-Challenge", "true")
	start := time.Now() // not counted in Requests, which counts the REST requests of passes
	conn, resp, err := w.dialer.DialContext(ctx, w.target, hdr)
	if err == nil {
		w.s.observe("subscribe", start, nil)
		return conn, resp, nil
	}
	if resp != nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		e := fromResponse(resp.StatusCode, body)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			e.Hint = "Rancher answered the websocket upgrade with a redirect, which is not followed: check " + setting.URL.String()
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest ||
			resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusUpgradeRequired:
			e.Hint = "no websocket event stream here: an older Rancher, or a proxy that does not pass websockets"
		}
		err = fmt.Errorf("subscribe to the events of environment %s: %w", w.envName(), e)
	} else {
		err = fmt.Errorf("subscribe to the events of environment %s: %w", w.envName(), &Error{Err: err})
	}
	w.s.observe("subscribe", start, err)
	return nil, resp, err
}

func (w *watch) envName() string {
	if w.env != "" {
		return w.env
	}
	if w.s.endpoint.Project != "" {
		return w.s.endpoint.Project
	}
	return "(the key's environment)"
}

// read reads frames until the socket ends or ctx is done. The first frame makes the stream live (reported): Connected
// is queued before it is handled.
func (w *watch) read(ctx context.Context, conn *websocket.Conn) (live bool, err error) {
	conn.SetReadLimit(w.o.MaxMessageBytes)
	done := make(chan struct{})
	closed := make(chan struct{})
	go func() { // ctx done: send a close frame, give the server a moment to answer, then close
		defer close(closed)
		select {
		case <-done:
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			select {
			case <-done:
			case <-time.After(250 * time.Millisecond):
			}
		}
		_ = conn.Close()
	}()
	defer func() {
		close(done)
		<-closed
	}()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(w.o.ReadTimeout))
		typ, r, err := conn.NextReader()
		if err != nil {
			return live, w.readErr(err)
		}
		if typ != websocket.TextMessage {
			return live, fmt.Errorf("events of environment %s: a binary frame", w.envName())
		}
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(r); err != nil {
			return live, w.readErr(err)
		}
		if !live {
			// Cattle writes its first ping once the subscription is in place: from here no change is missed.
			live = true
			w.q.push(Event{Kind: Connected, EnvID: w.env})
		}
		if err := w.handle(w.buf.Bytes()); err != nil {
			return live, fmt.Errorf("events of environment %s: %w", w.envName(), err)
		}
		if w.buf.Cap() > 64<<10 {
			w.buf = bytes.Buffer{} // do not keep a rare large frame's buffer
		}
	}
}

func (w *watch) readErr(err error) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway):
		return nil // the server closed the socket, as Cattle does after 12 hours
	case errors.Is(err, websocket.ErrReadLimit):
		return fmt.Errorf("events of environment %s: a message larger than %d bytes", w.envName(), w.o.MaxMessageBytes)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		err = errStale
	}
	return fmt.Errorf("events of environment %s: %w", w.envName(), &Error{Err: err})
}

// handle decodes one frame: its name and resource type only, and the resource of a registry, credential or service
// change. Frames that are not resource.change (pings, Cattle's bare {"name":"logout"}) and changes of other types
// are discarded. A change without a resource ("data": null, Cattle's answer for a resource it could not render) is
// reported with its id alone, a trigger to re-read; one with no id at all is discarded.
func (w *watch) handle(b []byte) error {
	name, typ, err := scanEvent(b)
	if err != nil {
		return err
	}
	if w.o.Frame != nil {
		w.o.Frame(name, typ)
	}
	if name != "resource.change" {
		return nil
	}
	report := typ
	switch {
	case typ == TypeRegistry || typ == TypeRegistryCredential:
	case w.o.Services && (typ == TypeService || strings.HasSuffix(typ, "Service")):
		report = TypeService // every kind of service: its id and images matter, the services are read again
	default:
		return nil
	}
	var v changeVO
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("a malformed %s event", typ)
	}
	ev := Event{Kind: Changed, EnvID: w.env, ResourceType: report, ResourceID: v.ResourceID}
	if r := v.Data.Resource; r != nil {
		if err := r.check(typ, ev.ResourceID, w.env); err != nil {
			return err
		}
		if ev.ResourceID == "" {
			ev.ResourceID = r.ID
		}
		ev.RegistryID = r.RegistryID
		if report == TypeService {
			ev.Images = r.images()
		}
	}
	if ev.ResourceID == "" {
		return nil // nothing to re-read (Cattle sends "data": null for a resource it could not render)
	}
	w.q.push(ev)
	return nil
}

// changeVO is what Watch reads of a resource.change event of a registry, credential or service.
type changeVO struct {
	ResourceID string `json:"resourceId"`
	Data       struct {
		Resource *changedResource `json:"resource"`
	} `json:"data"`
}

type changedResource struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	AccountID    string          `json:"accountId"`
	RegistryID   string          `json:"registryId"`
	LaunchConfig *launchConfig   `json:"launchConfig"`
	Sidekicks    []*launchConfig `json:"secondaryLaunchConfigs"`
}

type launchConfig struct {
	ImageUUID string `json:"imageUuid"`
}

// check refuses a resource that is not the one the event names, or of another environment than env.
func (r *changedResource) check(typ, id, env string) error {
	if r.Type != "" && r.Type != typ || id != "" && r.ID != "" && r.ID != id {
		return fmt.Errorf("a %s event about another resource", typ)
	}
	if env != "" && r.AccountID != "" && r.AccountID != env {
		return fmt.Errorf("a %s event of another environment", typ)
	}
	return nil
}

// images are a service's: the imageUuid of its launchConfig, then of each sidekick.
func (r *changedResource) images() []string {
	var out []string
	for _, lc := range append([]*launchConfig{r.LaunchConfig}, r.Sidekicks...) {
		if lc != nil && lc.ImageUUID != "" {
			out = append(out, lc.ImageUUID)
		}
	}
	return out
}

// deliver hands the queued events to the handler, one at a time, until the queue stops or ctx is done.
func (w *watch) deliver(ctx context.Context) {
	defer close(w.stopped)
	for {
		select {
		case <-w.q.wake:
		case <-w.q.done:
			return
		case <-ctx.Done():
			return
		}
		for _, ev := range w.q.take() {
			if ctx.Err() != nil {
				return
			}
			w.h(ev)
		}
	}
}

// eventQueue keeps the events the handler has not taken yet, in order; changes of one resource fold into one.
type eventQueue struct {
	mu       sync.Mutex
	items    []Event
	index    map[[2]string]int // (type, id) -> position in items
	changes  int
	max      int
	overflow bool // an Overflow is queued
	wake     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{index: map[[2]string]int{}, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	switch {
	case ev.Kind != Changed:
		q.items = append(q.items, ev)
	case q.overflow:
	default:
		key := [2]string{ev.ResourceType, ev.ResourceID}
		if i, ok := q.index[key]; ok {
			q.items[i] = ev
			break
		}
		if q.changes >= q.max {
			kept := q.items[:0]
			for _, it := range q.items {
				if it.Kind != Changed {
					kept = append(kept, it)
				}
			}
			q.items = append(kept, Event{Kind: Overflow, EnvID: ev.EnvID})
			clear(q.index)
			q.changes, q.overflow = 0, true
			break
		}
		q.index[key] = len(q.items)
		q.items = append(q.items, ev)
		q.changes++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	clear(q.index)
	q.changes, q.overflow = 0, false
	return items
}

func (q *eventQueue) stop() { q.stopOnce.Do(func() { close(q.done) }) }

// scanEvent reads the "name" and "resourceType" of an EventVO without decoding the rest: it walks the top-level
// object and skips every other value (a resource of an unrelated type is never decoded). It stops as soon as both
// are known.
func scanEvent(b []byte) (name, typ string, err error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", "", errors.New("a frame that is not a JSON object")
	}
	i = skipSpace(b, i+1)
	var haveName, haveType bool
	for end := i < len(b) && b[i] == '}'; !end; {
		var key, v string
		if key, v, i, err = scanMember(b, i); err != nil {
			return "", "", err
		}
		switch key {
		case "name":
			name, haveName = v, true
		case "resourceType":
			typ, haveType = v, true
		}
		if haveName && haveType {
			return name, typ, nil
		}
		if i, end, err = nextMember(b, i); err != nil {
			return "", "", err
		}
	}
	if name == "" {
		return "", "", errors.New("a frame without an event name")
	}
	return name, typ, nil
}

// scanMember reads the object member at b[i]: its key and, for "name" and "resourceType", its value when that is
// a string (any other value is skipped, and reads as ""); it returns the position after the value.
func scanMember(b []byte, i int) (key, value string, next int, err error) {
	key, j, err := scanString(b, i)
	if err != nil {
		return "", "", i, err
	}
	i = skipSpace(b, j)
	if i >= len(b) || b[i] != ':' {
		return "", "", i, errors.New("a malformed frame")
	}
	i = skipSpace(b, i+1)
	if (key == "name" || key == "resourceType") && i < len(b) && b[i] == '"' {
		value, i, err = scanString(b, i)
	} else {
		i, err = skipValue(b, i)
	}
	return key, value, i, err
}

// nextMember moves past the "," after an object member to the next member (end false), or finds the object's
// closing "}" (end true).
func nextMember(b []byte, i int) (next int, end bool, err error) {
	i = skipSpace(b, i)
	switch {
	case i < len(b) && b[i] == ',':
		return skipSpace(b, i+1), false, nil
	case i < len(b) && b[i] == '}':
		return i, true, nil
	}
	return i, false, errors.New("a malformed frame")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the JSON string at b[i] and returns it unescaped and the position after it; invalid UTF-8 reads
// as encoding/json reads it (U+FFFD).
func scanString(b []byte, i int) (string, int, error) {
	if i >= len(b) || b[i] != '"' {
		return "", i, errors.New("a malformed frame")
	}
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			if !escaped && utf8.Valid(b[i+1:j]) {
				return string(b[i+1 : j]), j + 1, nil
			}
			var s string
			if err := json.Unmarshal(b[i:j+1], &s); err != nil {
				return "", i, errors.New("a malformed frame")
			}
			return s, j + 1, nil
		}
	}
	return "", i, errors.New("a truncated frame")
}

// skipValue returns the position after the JSON value at b[i], checking only its nesting and strings.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, errors.New("a truncated frame")
	}
	switch b[i] {
	case '"':
		_, j, err := scanString(b, i)
		return j, err
	case '{', '[':
		return skipComposite(b, i)
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \n\r\t", rune(b[j])) {
		j++
	}
	if j == i {
		return i, errors.New("a malformed frame")
	}
	return j, nil
}

// skipComposite returns the position after the object or array at b[i].
func skipComposite(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return j + 1, nil
			}
		case '"':
			k := closingQuote(b, j)
			if k >= len(b) {
				return i, errors.New("a truncated frame")
			}
			j = k
		}
	}
	return i, errors.New("a truncated frame")
}

// closingQuote returns the position of the quote that closes the string opened at b[j], or len(b) and more when
// the string does not end.
func closingQuote(b []byte, j int) int {
	k := j + 1
	for k < len(b) && b[k] != '"' {
		if b[k] == '\\' {
			k++
		}
		k++
	}
	return k
}
