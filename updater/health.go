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
}

// maxHealthProblems bounds the problems /healthz lists; ProblemsTotal counts them all.
const maxHealthProblems = 50

// NewHealth returns the health of an updater that has not run a pass yet.
func NewHealth(clock Clock) *Health {
	if clock == nil {
		clock = RealClock{}
	}
	return &Health{clock: clock}
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

// Ready says whether a pass has ever succeeded.
func (h *Health) Ready() (bool, HealthStatus) {
	_, s := h.Status()
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lastSuccess.IsZero(), s
}

// Handler serves /ping (always "pong", as the old updater did), /healthz, /readyz and /metrics (when metrics is
// not nil).
func Handler(h *Health, metrics *promtext.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("pong"))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w)(h.Status()) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w)(h.Ready()) })
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeStatus(w http.ResponseWriter) func(bool, HealthStatus) {
	return func(ok bool, s HealthStatus) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(s)
	}
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

// Probe asks the /healthz of a running updater; it is what the healthcheck command and the image's
// HEALTHCHECK run. It returns nil for 200.
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
	var s HealthStatus
	_ = json.NewDecoder(resp.Body).Decode(&s)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: %d, status %q, last error %q", resp.StatusCode, s.Status, s.LastError)
	}
	return nil
}
