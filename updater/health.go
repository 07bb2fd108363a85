package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdlog "log"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/sirupsen/logrus"
)

// Overdue is how late a pass may be before /healthz reports the loop stuck.
const Overdue = 10 * time.Minute

// LiveSlack is how far past its deadline the loop may be heard from before /livez reports it wedged (see Live).
const LiveSlack = 5 * time.Minute

// Health is what the last passes say about the updater, for /healthz and /readyz.
type Health struct {
	mu          sync.Mutex
	clock       Clock
	passes      int
	status      string // of the last pass: StatusOK, StatusDegraded or StatusFailing
	problems    []Problem
	lastPass    time.Time
	lastSuccess time.Time
	lastErr     string
	next        time.Time
	streams     map[string]string // event stream state by environment
	// For /livez: when the Health was made (the first pass is due then), and the deadline of the pass in flight
	// (zero between passes).
	born     time.Time
	inflight time.Time
}

// maxHealthProblems bounds the problems /healthz lists; ProblemsTotal counts them all.
const maxHealthProblems = 50

// NewHealth returns the health of an updater that has not run a pass yet.
func NewHealth(clock Clock) *Health {
	if clock == nil {
		clock = RealClock{}
	}
	return &Health{clock: clock, born: clock.Now()}
}

// passStarted records that a pass is in flight and must have ended by deadline, by its own deadlines; a pass
// calls it again when it learns a later one. passDone ends it.
func (h *Health) passStarted(deadline time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight = deadline
}

// passDone records a pass that ended at end, the status and problems it leaves, and when the next one is due, in
// one step, so that /healthz never shows a pass without its successor. A degraded pass counts as a success: the
// updater did its job for everything but the problems it lists.
func (h *Health) passDone(end time.Time, status string, problems []Problem, errText string, next time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.passes++
	h.lastPass, h.status, h.problems, h.next = end, status, problems, next
	if status != StatusFailing {
		h.lastSuccess = end
	}
	h.lastErr = errText
	h.inflight = time.Time{}
}

// HealthStatus is the body of /healthz and /readyz.
type HealthStatus struct {
	Status      string `json:"status"`
	Passes      int    `json:"passes"`
	LastPass    string `json:"last_pass,omitempty"`
	LastSuccess string `json:"last_success,omitempty"`
	LastError   string `json:"last_error,omitempty"`
	NextPass    string `json:"next_pass,omitempty"`
	// Problems are what cannot be refreshed (at most maxHealthProblems of them; ProblemsTotal counts all).
	Problems      []Problem `json:"problems,omitempty"`
	ProblemsTotal int       `json:"problems_total,omitempty"`
	// Events is the state of each environment's event stream; it never changes Status.
	Events map[string]string `json:"events,omitempty"`
}

// setStream records the state of an environment's event stream; "" forgets it.
func (h *Health) setStream(env, state string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if state == "" {
		delete(h.streams, env)
		return
	}
	if h.streams == nil {
		h.streams = map[string]string{}
	}
	h.streams[env] = state
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Status says whether the updater is doing its job: the last pass left it ok or degraded (some registries
// cannot be refreshed, the rest is fresh) and the next pass is not overdue.
func (h *Health) Status() (healthy bool, s HealthStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s = HealthStatus{Passes: h.passes, LastPass: stamp(h.lastPass), LastSuccess: stamp(h.lastSuccess),
		LastError: h.lastErr, NextPass: stamp(h.next), ProblemsTotal: len(h.problems)}
	s.Problems = h.problems[:min(len(h.problems), maxHealthProblems)]
	if len(h.streams) > 0 {
		s.Events = maps.Clone(h.streams)
	}
	switch {
	case h.passes == 0:
		s.Status = "starting"
	case h.status == StatusFailing:
		s.Status = StatusFailing
	case !h.next.IsZero() && h.clock.Now().After(h.next.Add(Overdue)):
		s.Status = "overdue"
		s.LastError = fmt.Sprintf("the pass due at %s has not finished", stamp(h.next))
	default:
		s.Status = h.status
		return true, s
	}
	return false, s
}

// LiveStatus is the body of /livez.
type LiveStatus struct {
	// Status is "alive" or "wedged".
	Status string `json:"status"`
	// Deadline is when the loop must next be heard from (see Live).
	Deadline string `json:"deadline"`
	// Error says what is late, when Status is wedged.
	Error string `json:"error,omitempty"`
}

// Live says whether the loop is alive: it fails only when the loop is wedged, never because Rancher or AWS
// fail, so that a supervisor that restarts what is not live (Rancher's health check with strategy recreate)
// restarts only what a restart can fix. The loop is wedged when it is not heard from by LiveSlack after its
// deadline:
//   - a pass in flight must end by its own deadline (passStarted: the connect stage's, then the pass budget);
//   - between passes, the next pass must start by the later of its due time and the end of the last pass;
//   - before the first pass, the first pass must start by the time the Health was made.
func (h *Health) Live() (bool, LiveStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var by time.Time
	var late string // what is late, with %s for by and for LiveSlack
	switch {
	case !h.inflight.IsZero():
		by, late = h.inflight, "the pass in flight has not ended by its deadline %s, nor in the %s since"
	case h.passes == 0:
		by, late = h.born, "the first pass has not started: due at %s, nothing in the %s since"
	case h.lastPass.After(h.next):
		by, late = h.lastPass, "no pass has started since the last one ended at %s, more than %s ago, though one was due"
	default:
		by, late = h.next, "the pass due at %s has not started in the %s since"
	}
	limit := by.Add(LiveSlack)
	s := LiveStatus{Status: "alive", Deadline: stamp(limit)}
	if h.clock.Now().After(limit) {
		s.Status = "wedged"
		s.Error = fmt.Sprintf(late, stamp(by), LiveSlack)
		return false, s
	}
	return true, s
}

// Ready says whether a pass has ever succeeded.
func (h *Health) Ready() (bool, HealthStatus) {
	_, s := h.Status()
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lastSuccess.IsZero(), s
}

// Handler serves /ping (always "pong", as the old updater did), /livez, /healthz, /readyz and /metrics (when
// metrics is not nil).
func Handler(h *Health, metrics *promtext.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("pong"))
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		ok, s := h.Live()
		writeJSON(w, ok, s)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w)(h.Status()) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w)(h.Ready()) })
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeStatus(w http.ResponseWriter) func(bool, HealthStatus) {
	return func(ok bool, s HealthStatus) { writeJSON(w, ok, s) }
}

// writeJSON writes v with 200 when ok, else 503.
func writeJSON(w http.ResponseWriter, ok bool, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves h on ln until ctx is done, then shuts down within a few seconds. The server's own errors (a failed
// accept, a handler's panic, a malformed request it could not answer) go to log at warning level, with the field
// library=net/http; a nil log drops them.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log logrus.FieldLogger) error {
	if log == nil {
		l := logrus.New()
		l.Out = nopWriter{}
		log = l
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		ErrorLog: stdlog.New(LogWriter(log.WithField("library", "net/http"), logrus.WarnLevel), "", 0)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-done; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// Probe asks an endpoint of a running updater (/livez or /healthz); it is what the healthcheck command, and so
// the image's HEALTHCHECK, runs. It returns nil for 200.
func Probe(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	var s struct {
		Status    string `json:"status"`
		LastError string `json:"last_error"` // /healthz
		Error     string `json:"error"`      // /livez
	}
	_ = json.NewDecoder(resp.Body).Decode(&s)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %d, status %q, last error %q", resp.StatusCode, s.Status, s.LastError+s.Error)
	}
	return nil
}
