package updater

import (
	"runtime"
	"time"

	"github.com/ecr-updater/ecr-updater/rancher"
)

// MetricsPrefix is the namespace of every metric of the updater.
const MetricsPrefix = "ecr_updater"

// Metrics are the updater's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	passes            counterVec
	passDuration      histogram
	written           counterVec
	writeFailures     counter
	registriesCreated counter
	lastSuccess       gauge
	nextPass          gauge
	tokenExpiry       gaugeVec
	lastPass          gaugeVec
	requestDuration   histogramVec
	requestErrors     counterVec
	problems          gaugeVec
	streamsConnected  gaugeVec
	eventsReceived    counterVec
	eventPasses       counter
	reconnects        counter
}

// NewMetrics creates the metrics and registers them, with the Go and process collectors and build information,
// on reg. Adding a metric is one line with the helper of its kind (exposition.go).
func NewMetrics(reg *Registry, version, revision string) *Metrics {
	const p = MetricsPrefix + "_"
	m := &Metrics{
		passes: reg.counterVec(p+"passes_total",
			"Passes run, by result: success (every in-scope registry written), degraded (some could not be refreshed) or failure.", "result"),
		passDuration: reg.histogram(p+"pass_duration_seconds", "Duration of passes.", exponentialBuckets(0.05, 2, 12)),
		written: reg.counterVec(p+"credentials_written_total",
			"Registry credentials written, by action: updated or created.", "action"),
		writeFailures: reg.counter(p+"credential_write_failures_total",
			"In-scope registries whose credential could not be written (failed writes and registries without a token)."),
		registriesCreated: reg.counter(p+"registries_created_total", "Registries created: the home registry (auto-create) and the registries the images of services use (discovery)."),
		lastSuccess:       reg.gauge(p+"last_success_timestamp_seconds", "Unix time of the end of the last pass that did not leave the updater failing."),
		nextPass:          reg.gauge(p+"next_pass_timestamp_seconds", "Unix time the next pass is due."),
		tokenExpiry: reg.gaugeVec(p+"token_expiry_timestamp_seconds",
			"Unix time the last ECR token fetched for each region expires.", "region"),
		lastPass: reg.gaugeVec(p+"last_pass_registries",
			"Registries in the last pass, by kind: seen, in_scope, skipped, failed.", "kind"),
		requestDuration: reg.histogramVec(p+"request_duration_seconds",
			"Duration of requests to Rancher and ECR, by target and operation.", exponentialBuckets(0.005, 2.5, 10),
			"target", "operation"),
		requestErrors: reg.counterVec(p+"request_errors_total",
			"Failed requests to Rancher and ECR, by target and operation.", "target", "operation"),
		problems: reg.gaugeVec(p+"registry_failing",
			"1 for each registry (or environment) that cannot be refreshed, by environment, registry id and reason: token, write or read.",
			"env", "registry", "reason"),
		streamsConnected: reg.gaugeVec(p+"events_connected",
			"1 while the event stream of the environment is connected, 0 otherwise.", "env"),
		eventsReceived: reg.counterVec(p+"events_received_total",
			"Messages received on the event streams, by type: ping, registry, registryCredential or other.", "type"),
		eventPasses: reg.counter(p+"event_passes_total", "Passes run for changes the event streams reported."),
		reconnects:  reg.counter(p+"events_reconnects_total", "Event streams connected again after they were lost or closed."),
	}
	reg.gaugeVec(p+"build_info", "Build information; the value is 1.", "version", "revision", "goversion").
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
	reg.collect(goCollector)
	reg.collect(processCollector)
	return m
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

func (m *Metrics) streamConnected(env string, up, again bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.streamsConnected.WithLabelValues(env).Set(v)
	if again {
		m.reconnects.Inc()
	}
}

func (m *Metrics) scheduled(next time.Time) {
	if m != nil {
		m.nextPass.Set(float64(next.UnixMilli()) / 1000)
	}
}

func (m *Metrics) passDone(res *Result, end time.Time) {
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
	if res.Status != StatusFailing {
		m.lastSuccess.Set(float64(end.UnixMilli()) / 1000)
	}
	m.problems.Reset()
	for _, p := range res.Problems {
		m.problems.WithLabelValues(p.Env, p.Registry, p.Reason).Set(1)
	}
	m.written.WithLabelValues("updated").Add(float64(res.Updated))
	m.written.WithLabelValues("created").Add(float64(res.Created))
	m.writeFailures.Add(float64(res.FailedRegistries))
	m.registriesCreated.Add(float64(res.RegistriesCreated))
	for region, t := range res.Tokens {
		m.tokenExpiry.WithLabelValues(region).Set(float64(t.ExpiresAt.UnixMilli()) / 1000)
	}
	if res.Kind != PassScheduled {
		return // a retry or a pass for changes reads only part of the world
	}
	m.lastPass.WithLabelValues("seen").Set(float64(res.Seen))
	m.lastPass.WithLabelValues("in_scope").Set(float64(res.InScope))
	m.lastPass.WithLabelValues("skipped").Set(float64(res.Skipped))
	m.lastPass.WithLabelValues("failed").Set(float64(res.Failures()))
}
