package promtext

import (
	"bytes"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-updater/ecr-updater/internal/promtext/promtexttest"
)

func scrape(t *testing.T, r *Registry) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestExpositionDetails: escapes in HELP and label values, -0, a family without series left out, the le strings of
// client_golang's ExponentialBuckets, which bucket a value on a bound belongs to; all judged by expfmt and promlint.
func TestExpositionDetails(t *testing.T) {
	reg := NewRegistry()
	odd := "a\\b\"c\nd"
	reg.NewGaugeVec("x_level", "Help with a \\ and a\nnewline.", "zone", "app").WithLabelValues(odd, "z").Set(math.Copysign(0, -1))
	reg.NewGaugeVec("x_empty", "Never set.", "l")
	h := reg.NewHistogramVec("x_seconds", "H.", ExponentialBuckets(0.005, 2.5, 10), "op")
	for _, v := range []float64{0.005, 0.0050001, 100} {
		h.WithLabelValues("get").Observe(v)
	}
	reg.NewCounter("x_total", "C.").Add(2.5)
	text := scrape(t, reg)
	fams := promtexttest.Parse(t, text)
	if fams["x_empty"] != nil || bytes.Contains(text, []byte("x_empty")) {
		t.Error("a family without series is written")
	}
	g := fams["x_level"]
	if g.GetHelp() != "Help with a \\ and a\nnewline." || g.Metric[0].Label[1].GetValue() != odd || g.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("gauge %v", g)
	}
	if !bytes.Contains(text, []byte("# HELP x_level Help with a \\\\ and a\\nnewline.\n")) ||
		!bytes.Contains(text, []byte("x_level{app=\"z\",zone=\"a\\\\b\\\"c\\nd\"} 0\n")) {
		t.Errorf("escapes, label order or -0:\n%s", text)
	}
	var les []string
	for _, line := range strings.Split(string(text), "\n") {
		if _, rest, ok := strings.Cut(line, `le="`); ok {
			les = append(les, rest[:strings.IndexByte(rest, '"')])
		}
	}
	// client_golang's ExponentialBuckets(0.005, 2.5, 10), as its exposition printed them.
	want := []string{"0.005", "0.0125", "0.03125", "0.078125", "0.1953125", "0.48828125", "1.220703125", "3.0517578125",
		"7.62939453125", "19.073486328125", "+Inf"}
	if !slices.Equal(les, want) {
		t.Errorf("le %v, want %v", les, want)
	}
	got := promtexttest.Samples(fams)
	for k, v := range map[string]float64{`x_seconds_bucket{op="get",le="0.005"}`: 1, `x_seconds_bucket{op="get",le="0.0125"}`: 2,
		`x_seconds_bucket{op="get",le="19.073486328125"}`: 2, `x_seconds_bucket{op="get",le="+Inf"}`: 3, `x_seconds_count{op="get"}`: 3,
		`x_total`: 2.5} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (a value on a bound belongs to that bucket)", k, got[k], v)
		}
	}
}

// TestHistogramObservations: NaN is counted in +Inf only (its sum NaN), -Inf in the first bucket, +Inf in +Inf;
// WithLabelValues alone creates the series (zero counts), as client_golang does.
func TestHistogramObservations(t *testing.T) {
	reg := NewRegistry()
	h := reg.NewHistogramVec("x_seconds", "H.", []float64{1, 2}, "op")
	h.WithLabelValues("idle")
	nan := h.WithLabelValues("nan")
	nan.Observe(math.NaN())
	nan.Observe(1.5)
	inf := h.WithLabelValues("inf")
	inf.Observe(math.Inf(-1))
	inf.Observe(math.Inf(+1))
	got := promtexttest.Samples(promtexttest.Parse(t, scrape(t, reg)))
	want := map[string]float64{
		`x_seconds_bucket{op="idle",le="1"}`: 0, `x_seconds_bucket{op="idle",le="+Inf"}`: 0, `x_seconds_count{op="idle"}`: 0, `x_seconds_sum{op="idle"}`: 0,
		`x_seconds_bucket{op="nan",le="1"}`: 0, `x_seconds_bucket{op="nan",le="2"}`: 1, `x_seconds_bucket{op="nan",le="+Inf"}`: 2, `x_seconds_count{op="nan"}`: 2,
		`x_seconds_bucket{op="inf",le="1"}`: 1, `x_seconds_bucket{op="inf",le="2"}`: 1, `x_seconds_bucket{op="inf",le="+Inf"}`: 2,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if s := got[`x_seconds_sum{op="nan"}`]; !math.IsNaN(s) {
		t.Errorf("sum with a NaN observation = %v, want NaN", s)
	}
	if s := got[`x_seconds_sum{op="inf"}`]; !math.IsNaN(s) {
		t.Errorf("sum of -Inf and +Inf = %v, want NaN", s)
	}
}

// TestGaugeFunc: the series are what the function sets at each scrape; none leaves the family out; a label set
// given twice keeps the last value.
func TestGaugeFunc(t *testing.T) {
	reg := NewRegistry()
	var state map[string]float64
	reg.NewGaugeFunc("x_state", "S.", func(set func(float64, ...string)) {
		for k, v := range state {
			set(v, k)
		}
		if state["b"] != 0 {
			set(-1, "b")
		}
	}, "name")
	if text := scrape(t, reg); len(text) != 0 {
		t.Errorf("nothing set, yet:\n%s", text)
	}
	state = map[string]float64{"a": 1, "b": 2}
	if text, want := string(scrape(t, reg)), "# HELP x_state S.\n# TYPE x_state gauge\nx_state{name=\"a\"} 1\nx_state{name=\"b\"} -1\n"; text != want {
		t.Errorf("scrape:\n%s\nwant:\n%s", text, want)
	}
	delete(state, "a")
	if text := string(scrape(t, reg)); strings.Contains(text, `"a"`) {
		t.Errorf("a series that is no longer set is still written:\n%s", text)
	}
}

// TestInvalidUTF8LabelValue: a label value that is not UTF-8 does not panic; each bad byte is written as U+FFFD,
// and the same bad value finds the same series.
func TestInvalidUTF8LabelValue(t *testing.T) {
	reg := NewRegistry()
	c := reg.NewCounterVec("x_total", "C.", "env")
	c.WithLabelValues("caf\xe9\xff").Inc()
	c.WithLabelValues("caf\xe9\xff").Inc()
	text := scrape(t, reg)
	if want := "x_total{env=\"caf\uFFFD\uFFFD\"} 2\n"; !bytes.HasSuffix(text, []byte(want)) {
		t.Errorf("got\n%s\nwant a line %q", text, want)
	}
	promtexttest.Parse(t, text)
}

// TestMisusePanics: what client_golang refuses at registration panics at registration; a wrong number of label
// values and a counter made to go down panic when they happen.
func TestMisusePanics(t *testing.T) {
	reg := NewRegistry()
	reg.NewCounter("x_total", "C.")
	reg.RegisterGoCollector()
	c := reg.NewCounter("y_total", "C.")
	h := reg.NewHistogramVec("x_seconds", "H.", []float64{1}, "op")
	for name, f := range map[string]func(){
		"same name twice":           func() { reg.NewGauge("x_total", "again") },
		"a collector's name":        func() { reg.NewGauge("go_goroutines", "again") },
		"collector twice":           func() { reg.RegisterGoCollector() },
		"empty name":                func() { reg.NewGauge("", "E.") },
		"name with a dot":           func() { reg.NewGauge("x.y", "E.") },
		"name with a digit first":   func() { reg.NewGauge("1x", "E.") },
		"name with a dash":          func() { reg.NewCounter("x-total", "E.") },
		"label with a colon":        func() { reg.NewGaugeVec("x_a", "E.", "a:b") },
		"label with a leading __":   func() { reg.NewGaugeVec("x_b", "E.", "__name__") },
		"empty label":               func() { reg.NewGaugeVec("x_c", "E.", "") },
		"label twice":               func() { reg.NewGaugeVec("x_d", "E.", "a", "a") },
		"le in a histogram":         func() { reg.NewHistogramVec("x_e", "E.", []float64{1}, "le") },
		"buckets not increasing":    func() { reg.NewHistogram("x_f", "B.", []float64{2, 1}) },
		"a bucket twice":            func() { reg.NewHistogram("x_g", "B.", []float64{1, 1}) },
		"no buckets":                func() { reg.NewHistogram("x_h", "B.", nil) },
		"a NaN bucket":              func() { reg.NewHistogram("x_i", "B.", []float64{math.NaN()}) },
		"label values, too many":    func() { h.WithLabelValues("a", "b") },
		"label values, too few":     func() { h.WithLabelValues() },
		"negative add":              func() { c.Add(-1) },
		"exponential buckets, zero": func() { ExponentialBuckets(0, 2, 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
	// A last +Inf bucket is allowed (and dropped), and le is an ordinary label outside histograms.
	reg.NewHistogram("x_j", "B.", []float64{1, math.Inf(+1)})
	reg.NewGaugeVec("x_k", "G.", "le_x", "L", "_x")
	if text := scrape(t, reg); strings.Count(string(text), `x_j_bucket{le="+Inf"}`) != 1 {
		t.Errorf("the +Inf bucket:\n%s", text)
	}
}

// TestServeHTTP: plain and gzip-compressed as the Accept-Encoding asks, both judged by expfmt and promlint.
func TestServeHTTP(t *testing.T) {
	reg := NewRegistry()
	reg.NewCounterVec("x_total", "C.", "env").WithLabelValues("a \"b\"\n").Inc()
	reg.RegisterGoCollector()
	reg.RegisterProcessCollector()
	for _, enc := range []string{"", "gzip"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", enc)
		reg.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if got := rec.Header().Get("Content-Encoding"); got != enc {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q", enc, got)
		}
		if enc == "gzip" {
			body = gunzip(t, body)
		}
		if rec.Header().Get("Content-Type") != ContentType {
			t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
		}
		fams := promtexttest.Parse(t, body)
		if fams["x_total"] == nil || fams["go_goroutines"] == nil {
			t.Errorf("Accept-Encoding %q: families missing:\n%s", enc, body)
		}
	}
	for header, want := range map[string]bool{"gzip": true, "deflate, gzip;q=0.5": true, "GZIP": true, "gzip;q=0": false,
		"gzip; q=0.0": false, "identity": false, "": false, "x-gzip": false} {
		if acceptsGzip(header) != want {
			t.Errorf("acceptsGzip(%q) = %v", header, !want)
		}
	}
}
