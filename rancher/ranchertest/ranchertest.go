// Package ranchertest owns a stand-in for the Rancher 1.6 (Cattle) v2-beta API, served over real HTTP on
// 127.0.0.1 like net/http/httptest, answering in Cattle's JSON so that the real, unmodified
// github.com/rancher/go-rancher/v2 client works against it. Tests, the benchmark and the demo share it.
//
// It owns: environments (Cattle "project" resources, ids 1a<N>), Environment API keys, the keys Rancher makes for
// containers with the agent labels, and Account API keys, with Cattle's scoping rules, registries (1sp<N>) and registry credentials (1c<N>) with their states, the schemas that make
// go-rancher allow or refuse writes, paginated and filtered lists, creates, updates, deletes and lifecycle actions,
// Cattle's error bodies and headers, request records for exact request-count assertions, and fault injection
// (error statuses, delays, hangs, dropped connections, garbage bodies, a port that refuses connections), and the
// websocket event stream with its controls (subscribe.go).
//
// It also misbehaves on demand, as a hostile or misconfigured Rancher would: SetLinkBase renders every link and
// X-API-Schemas with another origin (what Cattle's api.host setting does); faults answer with redirects (to any
// origin), with a next link that loops to its own page, with a huge streamed body, with any body (non-collection
// 200s), or with an error that echoes the request body. Elsewhere is a second listener that records whatever
// reaches it, to assert that nothing was sent to the wrong origin.
//
// Facts emulated (from the Cattle, go-rancher, agent and UI sources):
//   - Every request needs HTTP basic auth with an API key; otherwise 401, with a WWW-Authenticate challenge unless
//     the request carries "X-API-No-Challenge: true".
//   - A path /v2-beta/projects/<id>/<more> is scoped to that environment (its X-API-Schemas is
//     <origin>/v2-beta/projects/<id>/schemas); every other path, /v2-beta/projects/<id> included, is unscoped
//     (X-API-Schemas <origin>/v2-beta/schemas).
//   - An Environment API key always acts in its own environment: unscoped collections mean that environment, a
//     scoped path of another environment answers 403, a by-id lookup of another environment's resource 404. It
//     reports X-API-Account-Kind "project"; the key of a container with the agent labels acts the same way and
//     reports "environment" (role environment) or "projectadmin" (role environmentAdmin). Either has its
//     environment's id as X-API-Account-Id.
//   - A scoped path of a missing (or removed) environment answers 403, whatever the key.
//   - An Account API key acts with full rights in the environments it is a member of (an admin: all of them) through
//     scoped paths; unscoped, it sees the registries and credentials of all its environments read-only: the
//     unscoped schemas give them only GET, which is what makes go-rancher answer "Resource type
//     [registryCredential] is not updatable", and a PUT or POST there answers 405.
//   - Lists are sorted by id, hide removed and purged resources unless a "removed" filter is given, filter on real
//     columns only (serverAddress is not one), page with limit (default 100, capped at 3000; limit <= 0 means
//     3000) and marker=m<offset>.
//   - secretValue is null in every answer but the create POST's.
//   - PUT changes publicValue/secretValue synchronously and keeps the state; unknown or read-only fields are dropped.
//     A PUT finds the resource whatever its state: a removed (even purged) credential is written and answered 200.
//   - Creates answer 201 in state "registering"; the stored resource is active right after.
//   - A second registry with the same serverAddress (case-insensitive) in an environment, one in "removing"
//     included, answers 400 ServerAddressUsed (message "ServerAddressUsed", no fieldName); an empty serverAddress
//     422 MinLengthExceeded. A credential may name a removed registry. An action not available in the state
//     answers 422 ActionNotAvailable; a DELETE of an active resource the generic 405.
//   - Generic errors carry Cattle's words as code and message: "Unauthorized", "Forbidden", "Not Found", "Method
//     not allowed".
//
// Behaviour beyond Cattle, chosen for tests: all state changes are synchronous; the stand-in never purges on its
// own; filters compare case-sensitively; "sort" and "order" are ignored (lists are always by id).
//
// net/http clients (go-rancher included) retry an idempotent request (GET) once when a reused keep-alive
// connection closes before any answer, so a Drop fault on a GET may be seen twice by the server and not at all
// by the caller; POST and PUT are not retried.
package ranchertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/standin"
)

const (
	cattleDefaultPageSize = 100
	cattleMaxPageSize     = 3000
	maxBodyBytes          = 4 << 20
)

// Options configures a Server.
type Options struct {
	TLS             bool          // serve HTTPS with a self-signed certificate for 127.0.0.1 and "localhost"; CAPEM() returns it
	DefaultPageSize int           // page size when the request has no limit; 0 means 100 (Cattle's default)
	MaxPageSize     int           // cap for ?limit; 0 means 3000 (Cattle's code cap)
	EscapeSlashes   bool          // write "/" as "\/" in JSON strings, as Cattle's Jackson sometimes does
	Latency         time.Duration // added before answering every request

	// MaxRecords bounds the request records kept for Requests(): 0 keeps all, N > 0 keeps the N most recent,
	// N < 0 keeps none. RequestCount() counts every request either way. Long benchmarks and demos should set it.
	MaxRecords int
}

// Server is a running Rancher v2-beta stand-in. All methods are safe for concurrent use.
type Server struct {
	URL string // origin, e.g. "http://127.0.0.1:41234", no path

	opts      Options
	addr      string
	scheme    string
	tlsConfig *tls.Config
	caPEM     []byte
	srv       *http.Server

	downMu    sync.Mutex // serialises SetDown and Close
	lifeMu    sync.Mutex // guards listener, down, closing, conns
	listener  net.Listener
	down      bool
	closing   bool
	conns     map[net.Conn]struct{}
	serveWG   sync.WaitGroup
	handlers  sync.WaitGroup
	closed    chan struct{}
	closeOnce sync.Once

	latency  atomic.Int64
	hook     atomic.Pointer[func(*http.Request)]
	linkBase atomic.Pointer[string]

	recMu    sync.Mutex
	records  []Request
	recGen   uint64
	recCount int // requests since the last reset
	recBase  int // sequence number of records[0]

	faultMu sync.Mutex
	faults  []*faultEntry
	nFaults atomic.Int32

	mu sync.RWMutex
	st store

	ev eventHub // the event stream (subscribe.go)
}

// New starts a Server listening on 127.0.0.1 on a free port. It panics if it cannot listen, like httptest.
func New(opts Options) *Server {
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = cattleDefaultPageSize
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = cattleMaxPageSize
	}
	s := &Server{
		opts:   opts,
		scheme: "http",
		conns:  map[net.Conn]struct{}{},
		closed: make(chan struct{}),
		st:     newStore(),
	}
	s.latency.Store(int64(opts.Latency))
	if opts.TLS {
		cfg, caPEM, err := selfSigned()
		if err != nil {
			panic("ranchertest: certificate: " + err.Error())
		}
		s.tlsConfig, s.caPEM, s.scheme = cfg, caPEM, "https"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("ranchertest: listen: " + err.Error())
	}
	s.addr = l.Addr().String()
	s.URL = s.scheme + "://" + s.addr
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.handle),
		ConnState:         s.connState,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(quietLog{}, "ranchertest: ", 0),
		// HTTP/1.1 only, as Cattle: Drop needs a connection to hijack.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	s.startLocked(l)
	return s
}

// quietLog drops net/http's noise about clients that fail the TLS handshake (tests that do not trust the
// certificate) and passes anything else, a handler panic for one, to standard error.
type quietLog struct{}

func (quietLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}

func (s *Server) startLocked(l net.Listener) {
	if s.tlsConfig != nil {
		l = tls.NewListener(l, s.tlsConfig)
	}
	s.listener = l
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		_ = s.srv.Serve(l)
	}()
}

func selfSigned() (*tls.Config, []byte, error) {
	cert, caPEM, err := standin.SelfSignedCert("ranchertest")
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	return cfg, caPEM, nil
}

// CAPEM returns the PEM certificate to trust (nil without TLS).
func (s *Server) CAPEM() []byte {
	if s.caPEM == nil {
		return nil
	}
	return bytes.Clone(s.caPEM)
}

// SetLinkBase makes every link and X-API-Schemas header name origin (scheme://host[:port], no path) instead of the
// origin the request came to, as Cattle does when its api.host setting (or a proxy's headers) names another host or
// scheme. "" restores links to the request's own origin.
func (s *Server) SetLinkBase(origin string) {
	origin = strings.TrimRight(origin, "/")
	s.linkBase.Store(&origin)
}

// SetLatency sets the delay added before answering every request.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// OnRequest sets a hook called before each request is handled (after it is recorded, before latency and faults),
// outside any lock: it may call the Server's methods. Its body can be read again. nil clears it.
func (s *Server) OnRequest(fn func(r *http.Request)) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

// Close stops the server: hanging and delayed requests are released unanswered, connections closed, and Close
// waits for every handler to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.downMu.Lock()
		defer s.downMu.Unlock()
		s.lifeMu.Lock()
		s.closing = true
		s.lifeMu.Unlock()
		close(s.closed)
		_ = s.srv.Close()
		s.serveWG.Wait()
		s.handlers.Wait()
	})
}

// SetDown takes the server off the network (down: the listener is closed, so the port refuses connections, and
// open connections are closed; in-flight requests may fail) or puts it back on the same address, retrying briefly
// if the port is not free yet (it panics if it stays taken for 5 s).
func (s *Server) SetDown(down bool) {
	s.downMu.Lock()
	defer s.downMu.Unlock()
	s.lifeMu.Lock()
	if s.closing || s.down == down {
		s.lifeMu.Unlock()
		return
	}
	if down {
		s.down = true
		l := s.listener
		s.listener = nil
		_ = l.Close()
		for c := range s.conns {
			_ = c.Close()
		}
		s.lifeMu.Unlock()
		s.DropSubscribers() // hijacked websockets are not in conns
		s.serveWG.Wait()
		return
	}
	s.lifeMu.Unlock()
	var l net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		l, err = net.Listen("tcp", s.addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			panic(fmt.Sprintf("ranchertest: SetDown(false): listen on %s: %v", s.addr, err))
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.down = false
	s.startLocked(l)
}

func (s *Server) connState(c net.Conn, state http.ConnState) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch state {
	case http.StateNew:
		if s.down {
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// enter registers a running handler; false once Close has begun.
func (s *Server) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closing {
		return false
	}
	s.handlers.Add(1)
	return true
}

// wait sleeps d; false if the client went away or the server closed first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

// Request is the record of one request received. Body is shared with the server's records: do not modify it.
type Request struct {
	Method, Path, RawQuery, AccessKey string
	Body                              []byte
	Status                            int // status answered; 0 when none was (hang, drop, client gone, server closed)
}

// Requests returns the records of the requests received since the last ResetRequests, oldest first (bounded by
// Options.MaxRecords).
func (s *Server) Requests() []Request {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	recs := s.records
	if s.opts.MaxRecords > 0 && len(recs) > s.opts.MaxRecords {
		recs = recs[len(recs)-s.opts.MaxRecords:]
	}
	return append([]Request(nil), recs...)
}

// RequestCount returns the number of requests received since the last ResetRequests.
func (s *Server) RequestCount() int {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.recCount
}

// ResetRequests forgets the request records and the count.
func (s *Server) ResetRequests() {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	s.records = nil
	s.recCount = 0
	s.recBase = 0
	s.recGen++
}

func (s *Server) record(r *http.Request, accessKey string, body []byte) (gen uint64, seq int) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	seq = s.recCount
	s.recCount++
	if keep := s.opts.MaxRecords; keep >= 0 {
		s.records = append(s.records, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			AccessKey: accessKey, Body: body})
		if keep > 0 && len(s.records) >= 2*keep {
			drop := len(s.records) - keep
			s.records = append([]Request(nil), s.records[drop:]...)
			s.recBase += drop
		}
	}
	return s.recGen, seq
}

func (s *Server) finish(gen uint64, seq, status int) {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	if gen != s.recGen || seq < s.recBase || seq-s.recBase >= len(s.records) {
		return
	}
	s.records[seq-s.recBase].Status = status
}

// Fault makes matching requests fail. Faults are checked in the order added; the first match applies (and counts
// against its Times). After Delay, the first of Hang, Drop, Redirect, HugeBody, Body, Echo, Garbage, Status that is
// set applies; a Fault with only Delay (or LoopNext) answers normally. Faults apply before authentication, to
// every request.
type Fault struct {
	Method       string        // "" any method
	PathContains string        // "" any path; else substring of the URL path, case-insensitive
	Status       int           // answer with this status and a Cattle error body (with Body or Echo: their status)
	Delay        time.Duration // wait before answering normally (or before the fault)
	Hang         bool          // never answer: block until the client gives up (its connection closes) or Close()
	Drop         bool          // close the TCP connection without an answer
	Garbage      bool          // 200 with a body that is not JSON (and the normal headers)
	Times        int           // number of matching requests it applies to; 0 means until ClearFaults

	// Redirect answers with this 3xx status and a Location of RedirectTo (scheme://host[:port]) followed by the
	// request's path and query; RedirectTo "" redirects to the server's own origin.
	Redirect   int
	RedirectTo string
	// HugeBody answers 200 with a JSON collection of registries this many bytes long (about: whole items), streamed
	// without a Content-Length and never held in memory; the server stops writing when the client goes away.
	HugeBody int64
	// HugeItem is the JSON value a HugeBody answer repeats as its items; "" means a small active registry.
	HugeItem string
	// HugeNext gives a HugeBody answer a pagination.next link to the next page of the same URL (its marker
	// m<offset> advanced by one), so that a client following links reads page after page of HugeBody bytes, each
	// page under any per-answer bound. Without it, the answer has no pagination.
	HugeNext bool
	// Body answers with this body (status 200 unless Status is set) and the normal headers: {}, null, an error
	// object, a collection of another type...
	Body string
	// Echo answers with a Cattle error (status 422 unless Status is set) whose message is the request body, as
	// servers that echo invalid input do.
	Echo bool
	// LoopNext answers a list normally, but its pagination.next link is the request's own URL: a loop.
	LoopNext bool
}

type faultEntry struct {
	f         Fault
	path      string
	remaining int
}

// AddFault adds a fault.
func (s *Server) AddFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = append(s.faults, &faultEntry{f: f, path: strings.ToLower(f.PathContains), remaining: f.Times})
	s.nFaults.Store(int32(len(s.faults)))
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = nil
	s.nFaults.Store(0)
}

func (s *Server) matchFault(method, lowerPath string) (Fault, bool) {
	if s.nFaults.Load() == 0 {
		return Fault{}, false
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, fe := range s.faults {
		if fe.f.Method != "" && !strings.EqualFold(fe.f.Method, method) {
			continue
		}
		if fe.path != "" && !strings.Contains(lowerPath, fe.path) {
			continue
		}
		if fe.remaining > 0 {
			fe.remaining--
			if fe.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				s.nFaults.Store(int32(len(s.faults)))
			}
		}
		return fe.f, true
	}
	return Fault{}, false
}
