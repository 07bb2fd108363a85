package updater

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// MetricsPrefix is the namespace of every metric of the updater.
const MetricsPrefix = "ecr_updater"

// Metrics are the updater's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	passes            *prometheus.CounterVec
	passDuration      prometheus.Histogram
	written           *prometheus.CounterVec
	writeFailures     prometheus.Counter
	registriesCreated prometheus.Counter
	lastSuccess       prometheus.Gauge
	nextPass          prometheus.Gauge
	tokenExpiry       *prometheus.GaugeVec
	lastPass          *prometheus.GaugeVec
	requestDuration   *prometheus.HistogramVec
	requestErrors     *prometheus.CounterVec
	problems          *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them, with the Go and process collectors and build information,
// on reg.
func NewMetrics(reg prometheus.Registerer, version, revision string) *Metrics {
	m := &Metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsPrefix, Name: "passes_total",
			Help: "Passes run, by result: success (every in-scope registry written), degraded (some could not be refreshed) or failure.",
		}, []string{"result"}),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: MetricsPrefix, Name: "pass_duration_seconds",
			Help:    "Duration of passes.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsPrefix, Name: "credentials_written_total",
			Help: "Registry credentials written, by action: updated or created.",
		}, []string{"action"}),
		writeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: MetricsPrefix, Name: "credential_write_failures_total",
			Help: "In-scope registries whose credential could not be written (failed writes and registries without a token).",
		}),
		registriesCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: MetricsPrefix, Name: "registries_created_total",
			Help: "Registries created by AUTO_CREATE.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: MetricsPrefix, Name: "last_success_timestamp_seconds",
			Help: "Unix time of the end of the last successful pass.",
		}),
		nextPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: MetricsPrefix, Name: "next_pass_timestamp_seconds",
			Help: "Unix time the next pass is due.",
		}),
		tokenExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: MetricsPrefix, Name: "token_expiry_timestamp_seconds",
			Help: "Unix time the last ECR token fetched for each region expires.",
		}, []string{"region"}),
		lastPass: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: MetricsPrefix, Name: "last_pass_registries",
			Help: "Registries in the last pass, by kind: seen, in_scope, skipped, failed.",
		}, []string{"kind"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: MetricsPrefix, Name: "request_duration_seconds",
			Help:    "Duration of requests to Rancher and ECR, by target and operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"target", "operation"}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: MetricsPrefix, Name: "request_errors_total",
			Help: "Failed requests to Rancher and ECR, by target and operation.",
		}, []string{"target", "operation"}),
		problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: MetricsPrefix, Name: "registry_failing",
			Help: "1 for each registry (or environment) that cannot be refreshed, by environment, registry id and reason: token, write or read.",
		}, []string{"env", "registry", "reason"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: MetricsPrefix, Name: "build_info",
		Help:        "Build information; the value is 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, result := range []string{"success", "degraded", "failure"} {
		m.passes.WithLabelValues(result)
	}
	for _, action := range []string{"updated", "created"} {
		m.written.WithLabelValues(action)
	}
	reg.MustRegister(m.passes, m.passDuration, m.written, m.writeFailures, m.registriesCreated, m.lastSuccess,
		m.nextPass, m.tokenExpiry, m.lastPass, m.requestDuration, m.requestErrors, m.problems, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
	m.writeFailures.Add(float64(res.failedRegistries))
	m.registriesCreated.Add(float64(res.RegistriesCreated))
	for region, t := range res.Tokens {
		m.tokenExpiry.WithLabelValues(region).Set(float64(t.ExpiresAt.UnixMilli()) / 1000)
	}
	if !res.Full {
		return // a retry or a small pass reads only part of the world
	}
	m.lastPass.WithLabelValues("seen").Set(float64(res.Seen))
	m.lastPass.WithLabelValues("in_scope").Set(float64(res.InScope))
	m.lastPass.WithLabelValues("skipped").Set(float64(res.Skipped))
	m.lastPass.WithLabelValues("failed").Set(float64(res.Failed))
}
