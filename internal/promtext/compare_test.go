package promtext

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
)

// The differential tests: the same metrics and observations in a client_golang registry (test-only: the daemon does
// not link client_golang) and in ours, served by promhttp and by ServeHTTP.

// labelValues are what environment names and registry ids may hold: quotes, backslashes, newlines, UTF-8, the text
// format's own punctuation, nothing at all.
var labelValues = []string{"", "plain", `quo"te`, `back\slash`, "trailing\\", "new\nline", "\n", `\n literally`,
	"tab\tand  spaces", "UTF-8: café – Zürich ☃ 日本語 🚀", "{a=\"b\",c}", "1a5 (Prod \"blue\" \\ lab\nsecond)"}

// values are the gauge values that format differently: zeros, integers, tiny, huge, non-finite.
var values = []float64{0, math.Copysign(0, -1), 1, -1, 2, 0.1, 1.0 / 3, -2.5e-7, 1e-300, 1e21, 1e300, 123456789,
	1_800_000_000.5, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(+1), math.Inf(-1)}

// observations hit every bucket: below the first, on bounds, between, above the last, NaN and the infinities.
var observations = []float64{-1, 0, 0.005, 0.0050001, 0.0125, 0.2, 1.220703125, 7, 19.073486328125, 19.1, 1e9,
	math.NaN(), math.Inf(-1), math.Inf(+1)}

// constGauges is how a client_golang program exposes state read at scrape time: const metrics from a Collector.
type constGauges struct {
	desc   *prometheus.Desc
	series map[string]float64
}

func (c constGauges) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c constGauges) Collect(ch chan<- prometheus.Metric) {
	for k, v := range c.series {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k)
	}
}

// TestSameAsClientGolang: counters, gauges, histograms (with and without labels, series created but never updated,
// NaN observed) and gauges computed at scrape time give the same body, byte for byte, plain and gzip-decompressed.
func TestSameAsClientGolang(t *testing.T) {
	ours, theirs := NewRegistry(), prometheus.NewPedanticRegistry()
	const help = "Help with a \\ backslash,\na newline and \"quotes\" – UTF-8 too."

	oc := ours.NewCounterVec("t_events_total", help, "zone", "env")
	tc := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_events_total", Help: help}, []string{"zone", "env"})
	ours.NewCounter("t_idle_total", "Never incremented.")
	tIdle := prometheus.NewCounter(prometheus.CounterOpts{Name: "t_idle_total", Help: "Never incremented."})
	for i, v := range labelValues {
		oc.WithLabelValues("z", v).Add(float64(i) + 0.5)
		tc.WithLabelValues("z", v).Add(float64(i) + 0.5)
		oc.WithLabelValues(v, "e")
		tc.WithLabelValues(v, "e")
	}

	og := ours.NewGaugeVec("t_value", "Gauge values.", "i")
	tg := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_value", Help: "Gauge values."}, []string{"i"})
	for i, v := range values {
		og.WithLabelValues(strconv.Itoa(i)).Set(v)
		tg.WithLabelValues(strconv.Itoa(i)).Set(v)
	}
	ours.NewGauge("t_single", "One gauge.").Set(42)
	tSingle := prometheus.NewGauge(prometheus.GaugeOpts{Name: "t_single", Help: "One gauge."})
	tSingle.Set(42)

	buckets := ExponentialBuckets(0.005, 2.5, 10)
	if !slices.Equal(buckets, prometheus.ExponentialBuckets(0.005, 2.5, 10)) {
		t.Fatalf("ExponentialBuckets %v, client_golang's %v", buckets, prometheus.ExponentialBuckets(0.005, 2.5, 10))
	}
	oh := ours.NewHistogramVec("t_duration_seconds", "Durations.", buckets, "target", "operation")
	th := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "t_duration_seconds", Help: "Durations.", Buckets: buckets},
		[]string{"target", "operation"})
	oh.WithLabelValues("rancher", "created, never observed")
	th.WithLabelValues("rancher", "created, never observed")
	for i, x := range observations {
		op := labelValues[i%len(labelValues)]
		oh.WithLabelValues("ecr", op).Observe(x)
		th.WithLabelValues("ecr", op).Observe(x)
	}
	ourFinite := ours.NewHistogram("t_pass_seconds", "Passes.", ExponentialBuckets(0.05, 2, 12))
	theirFinite := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_pass_seconds", Help: "Passes.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)})
	for _, x := range []float64{0.01, 0.05, 0.3, 7.5, 1000} {
		ourFinite.Observe(x)
		theirFinite.Observe(x)
	}

	state := map[string]float64{}
	for i, v := range labelValues {
		state[v] = float64(i % 2)
	}
	ours.NewGaugeFunc("t_connected", "Read at scrape time.", func(set func(float64, ...string)) {
		for k, v := range state {
			set(v, k)
		}
	}, "env")
	ours.NewGaugeFunc("t_next_timestamp_seconds", "One value read at scrape time.", func(set func(float64, ...string)) { set(1_800_000_000.5) })
	tNext := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "t_next_timestamp_seconds", Help: "One value read at scrape time."},
		func() float64 { return 1_800_000_000.5 })

	theirs.MustRegister(tc, tIdle, tg, tSingle, th, theirFinite, tNext,
		constGauges{prometheus.NewDesc("t_connected", "Read at scrape time.", []string{"env"}, nil), state})

	promHandler := promhttp.HandlerFor(theirs, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError})
	for _, enc := range []string{"identity", "gzip"} {
		want, got := serve(t, promHandler, enc), serve(t, ours, enc)
		if !bytes.Equal(got, want) {
			t.Errorf("Accept-Encoding %s: the bodies differ\n%s", enc, lineDiff(got, want))
		}
		promtexttest.Parse(t, got)
	}
}

// serve GETs /metrics from h with the Accept-Encoding given and returns the body, decompressed.
func serve(t *testing.T, h http.Handler, encoding string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", encoding)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Encoding"); (got == "gzip") != (encoding == "gzip") {
		t.Fatalf("Accept-Encoding %s: Content-Encoding %q", encoding, got)
	}
	if encoding == "gzip" {
		return gunzip(t, rec.Body.Bytes())
	}
	return rec.Body.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lineDiff shows the lines of got and want that differ, in order.
func lineDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  ours:          " + strconv.Quote(gl) + "\n  client_golang: " + strconv.Quote(wl) + "\n")
		}
	}
	return b.String()
}

// TestCollectorsAsClientGolang: our Go and process collectors give the families of client_golang's
// collectors.NewGoCollector() and NewProcessCollector, with the same names, types, help and label names, and the
// same values where they do not move between two scrapes.
func TestCollectorsAsClientGolang(t *testing.T) {
	ours, theirs := NewRegistry(), prometheus.NewPedanticRegistry()
	ours.RegisterGoCollector()
	theirs.MustRegister(collectors.NewGoCollector())
	if runtime.GOOS == "linux" { // where both read /proc; elsewhere each reads what its system offers
		ours.RegisterProcessCollector()
		theirs.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	got := promtexttest.Parse(t, scrape(t, ours))
	want := promtexttest.Parse(t, serve(t, promhttp.HandlerFor(theirs, promhttp.HandlerOpts{}), "identity"))
	for name, w := range want {
		g := got[name]
		if g == nil {
			t.Errorf("%s: client_golang has it, we do not", name)
			continue
		}
		if g.GetType() != w.GetType() || g.GetHelp() != w.GetHelp() {
			t.Errorf("%s: %s %q, client_golang: %s %q", name, g.GetType(), g.GetHelp(), w.GetType(), w.GetHelp())
		}
		if a, b := labelSets(g), labelSets(w); !slices.Equal(a, b) {
			t.Errorf("%s: series %v, client_golang: %v", name, a, b)
		}
	}
	for name := range got {
		if want[name] == nil {
			t.Errorf("%s: we have it, client_golang does not", name)
		}
	}
	steady := []string{`go_info{version="` + runtime.Version() + `"}`, "go_gc_gogc_percent", "go_gc_gomemlimit_bytes",
		"go_sched_gomaxprocs_threads"}
	if runtime.GOOS == "linux" {
		steady = append(steady, "process_max_fds", "process_virtual_memory_max_bytes", "process_start_time_seconds")
	}
	gs, ws := promtexttest.Samples(got), promtexttest.Samples(want)
	for _, k := range steady {
		if g, ok := gs[k]; !ok || g != ws[k] {
			t.Errorf("%s = %v (present %v), client_golang: %v", k, g, ok, ws[k])
		}
	}
	t.Logf("%d families, as client_golang's collectors", len(got))
}

// labelSets lists the label names and values of a family's series, but for quantile values (which summaries
// fill as they like).
func labelSets(f *dto.MetricFamily) []string {
	var out []string
	for _, m := range f.GetMetric() {
		var parts []string
		for _, l := range m.GetLabel() {
			parts = append(parts, l.GetName()+"="+l.GetValue())
		}
		for _, q := range m.GetSummary().GetQuantile() {
			parts = append(parts, "quantile="+strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
		}
		out = append(out, strings.Join(parts, ","))
	}
	slices.Sort(out)
	return out
}

// TestRegistrationRefusedAsClientGolang: what client_golang refuses at registration (MustRegister panics), we
// refuse at registration too; le as a histogram label, which it refuses at the first series, we refuse earlier. Names that client_golang now accepts as UTF-8 but the text
// format 0.0.4 cannot carry unescaped, we refuse and it accepts: the one deliberate difference.
func TestRegistrationRefusedAsClientGolang(t *testing.T) {
	type spec struct {
		name      string
		labels    []string
		histogram bool
	}
	refuses := func(register func()) (refused bool) {
		defer func() { refused = recover() != nil }()
		register()
		return false
	}
	oursRefuse := func(s spec) bool {
		reg := NewRegistry()
		reg.NewGauge("t_taken", "T.")
		return refuses(func() {
			if s.histogram {
				reg.NewHistogramVec(s.name, "H.", []float64{1}, s.labels...)
			} else {
				reg.NewGaugeVec(s.name, "G.", s.labels...)
			}
		})
	}
	theirsRefuse := func(s spec) bool {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "t_taken", Help: "T."}))
		return refuses(func() {
			if s.histogram {
				vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: s.name, Help: "H.", Buckets: []float64{1}}, s.labels)
				reg.MustRegister(vec)
				vec.WithLabelValues(make([]string, len(s.labels))...) // it refuses le in a histogram here
			} else {
				reg.MustRegister(prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: s.name, Help: "G."}, s.labels))
			}
		})
	}
	for _, s := range []spec{
		{name: "t_ok", labels: []string{"a", "_b", "C9", "le"}},
		{name: "t:ok_seconds", labels: []string{"op"}, histogram: true},
		{name: "t_taken"},
		{name: ""},
		{name: "t_bad", labels: []string{"__reserved"}},
		{name: "t_bad", labels: []string{""}},
		{name: "t_bad", labels: []string{"a", "a"}},
		{name: "t_bad_seconds", labels: []string{"le"}, histogram: true},
	} {
		o, th := oursRefuse(s), theirsRefuse(s)
		if o != th {
			t.Errorf("%+v: we refuse %v, client_golang refuses %v", s, o, th)
		}
	}
	for _, s := range []spec{
		{name: "t.dotted"},
		{name: "9_starts_with_a_digit"},
		{name: "t_café_total"},
		{name: "t_bad", labels: []string{"a-b"}},
		{name: "t_bad", labels: []string{"a:b"}},
	} {
		if !oursRefuse(s) || theirsRefuse(s) {
			t.Errorf("%+v: we refuse %v (want true), client_golang refuses %v (want false, UTF-8 names)", s, oursRefuse(s), theirsRefuse(s))
		}
	}
}
