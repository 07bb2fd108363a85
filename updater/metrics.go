package updater

import (
	"maps"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ecr-updater/ecr-updater/internal/promtext"
	"github.com/ecr-updater/ecr-updater/rancher"
)

// MetricsPrefix is the namespace of every metric of the updater.
const MetricsPrefix = "ecr_updater"

// Metrics are the updater's Prometheus metrics: their names, help and labels, and what updates them. The registry
// and the exposition are internal/promtext's. Events (passes, writes, requests, messages) are counted as they
// happen; the state gauges (last success, next pass, failing registries, connected streams) are read from the
// updater's Health at every scrape, so that /metrics and /healthz never disagree. A nil *Metrics records nothing.
type Metrics struct {
	passes            promtext.CounterVec
	passDuration      promtext.Histogram
	written           promtext.CounterVec
	writeFailures     promtext.Counter
	registriesCreated promtext.Counter
	tokenExpiry       promtext.GaugeVec
	lastPass          promtext.GaugeVec
	requestDuration   promtext.HistogramVec
	requestErrors     promtext.CounterVec
	eventsReceived    promtext.CounterVec
	eventPasses       promtext.Counter
	reconnects        promtext.Counter

	health atomic.Pointer[Health] // the updater's (New sets it); nil before
}

// NewMetrics creates the metrics and registers them, with the Go and process collectors and build information,
// on reg. Adding a metric is one line with the registry method of its kind.
func NewMetrics(reg *promtext.Registry, version, revision string) *Metrics {
	const p = MetricsPrefix + "_"
	m := &Metrics{
		passes: reg.NewCounterVec(p+"passes_total",
			"Passes run, by result: success (every in-scope registry written), degraded (some could not be refreshed) or failure.", "result"),
		passDuration: reg.NewHistogram(p+"pass_duration_seconds", "Duration of passes.", promtext.ExponentialBuckets(0.05, 2, 12)),
		written: reg.NewCounterVec(p+"credentials_written_total",
			"Registry credentials written, by action: updated or created.", "action"),
		writeFailures: reg.NewCounter(p+"credential_write_failures_total",
			"In-scope registries whose credential could not be written (failed writes and registries without a token)."),
		registriesCreated: reg.NewCounter(p+"registries_created_total", "Registries created: the home registry (auto-create) and the registries the images of services use (discovery)."),
		tokenExpiry: reg.NewGaugeVec(p+"token_expiry_timestamp_seconds",
			"Unix time the last ECR token fetched for each region expires.", "region"),
		lastPass: reg.NewGaugeVec(p+"last_pass_registries",
			"Registries in the last pass, by kind: seen, in_scope, skipped, failed.", "kind"),
		requestDuration: reg.NewHistogramVec(p+"request_duration_seconds",
			"Duration of requests to Rancher and ECR, by target and operation.", promtext.ExponentialBuckets(0.005, 2.5, 10),
			"target", "operation"),
		requestErrors: reg.NewCounterVec(p+"request_errors_total",
			"Failed requests to Rancher and ECR, by target and operation.", "target", "operation"),
		eventsReceived: reg.NewCounterVec(p+"events_received_total",
			"Messages received on the event streams, by type: ping, registry, registryCredential or other.", "type"),
		eventPasses: reg.NewCounter(p+"event_passes_total", "Passes run for changes the event streams reported."),
		reconnects:  reg.NewCounter(p+"events_reconnects_total", "Event streams connected again after they were lost or closed."),
	}
	reg.NewGaugeFunc(p+"last_success_timestamp_seconds", "Unix time of the end of the last pass that did not leave the updater failing.",
		func(set func(float64, ...string)) { set(unixSeconds(m.state().lastSuccess)) })
	reg.NewGaugeFunc(p+"next_pass_timestamp_seconds", "Unix time the next pass is due.",
		func(set func(float64, ...string)) { set(unixSeconds(m.state().next)) })
	reg.NewGaugeFunc(p+"registry_failing",
		"1 for each registry (or environment) that cannot be refreshed, by environment, registry id and reason: token, write or read.",
		func(set func(float64, ...string)) {
			for _, pr := range m.state().problems {
				set(1, pr.Env, pr.Registry, pr.Reason)
			}
		}, "env", "registry", "reason")
	reg.NewGaugeFunc(p+"events_connected", "1 while the event stream of the environment is connected, 0 otherwise.",
		func(set func(float64, ...string)) {
			for env, state := range m.state().streams {
				v := 0.0
				if state == StreamConnected {
					v = 1
				}
				set(v, env)
			}
		}, "env")
	reg.NewGaugeVec(p+"build_info", "Build information; the value is 1.", "version", "revision", "goversion").
		WithLabelValues(version, revision, runtime.Version()).Set(1)
	for _, result := range []string{"success", "degraded", "failure"} {
		m.passes.WithLabelValues(result)
	}
	for _, action := range []string{"updated", "created"} {
		m.written.WithLabelValues(action)
	}
	for _, kind := range []string{"ping", rancher.TypeRegistry, rancher.TypeRegistryCredential, "other"} {
		m.eventsReceived.WithLabelValues(kind)
	}
	reg.RegisterGoCollector()
	reg.RegisterProcessCollector()
	return m
}

// watch makes h the health the state gauges read (New calls it with the updater's).
func (m *Metrics) watch(h *Health) {
	if m != nil {
		m.health.Store(h)
	}
}

// healthState is what the state gauges show: the zero value before the first pass.
type healthState struct {
	lastSuccess, next time.Time
	problems          []Problem
	streams           map[string]string
}

func (m *Metrics) state() healthState {
	h := m.health.Load()
	if h == nil {
		return healthState{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return healthState{lastSuccess: h.lastSuccess, next: h.next, problems: h.problems, streams: maps.Clone(h.streams)}
}

// unixSeconds is t as a Unix time in seconds, to the millisecond; 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

// observer returns the request observer of one target, nil without metrics.
func (m *Metrics) observer(target string) func(op string, d time.Duration, err error) {
	if m == nil {
		return nil
	}
	return func(op string, d time.Duration, err error) {
		m.requestDuration.WithLabelValues(target, op).Observe(d.Seconds())
		if err != nil {
			m.requestErrors.WithLabelValues(target, op).Inc()
		}
	}
}

// eventReceived counts a message of an event stream: ping, registry, registryCredential, or other (every other type
// and name, so that a server cannot grow the label set).
func (m *Metrics) eventReceived(name, resourceType string) {
	if m == nil {
		return
	}
	kind := "other"
	switch {
	case name == "ping":
		kind = "ping"
	case name == "resource.change" && (resourceType == rancher.TypeRegistry || resourceType == rancher.TypeRegistryCredential):
		kind = resourceType
	}
	m.eventsReceived.WithLabelValues(kind).Inc()
}

// reconnected counts an event stream connected again.
func (m *Metrics) reconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) passDone(res *Result) {
	if m == nil {
		return
	}
	m.passDuration.Observe(res.Duration.Seconds())
	if res.Kind == PassEvent {
		m.eventPasses.Inc()
	}
	switch {
	case res.OK():
		m.passes.WithLabelValues("success").Inc()
	case res.Status == StatusFailing:
		m.passes.WithLabelValues("failure").Inc()
	default:
		m.passes.WithLabelValues("degraded").Inc()
	}
	m.written.WithLabelValues("updated").Add(float64(res.Updated))
	m.written.WithLabelValues("created").Add(float64(res.Created))
	m.writeFailures.Add(float64(res.FailedRegistries))
	m.registriesCreated.Add(float64(res.RegistriesCreated))
	for region, t := range res.Tokens {
		m.tokenExpiry.WithLabelValues(region).Set(unixSeconds(t.ExpiresAt))
	}
	if res.Kind != PassScheduled {
		return // a retry or a pass for changes reads only part of the world
	}
	m.lastPass.WithLabelValues("seen").Set(float64(res.Seen))
	m.lastPass.WithLabelValues("in_scope").Set(float64(res.InScope))
	m.lastPass.WithLabelValues("skipped").Set(float64(res.Skipped))
	m.lastPass.WithLabelValues("failed").Set(float64(res.Failures()))
}
