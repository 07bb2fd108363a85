package updater

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Registry holds the metrics served on /metrics and writes them in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), as github.com/prometheus/client_golang did:
// families sorted by name, each with its HELP and TYPE lines; series sorted by label values; label names sorted,
// with le and quantile last; a family without a series is left out. It is written here rather than imported
// because client_golang brings protobuf, client_model, common and procfs into the binary: see README,
// Performance. The Go (go_*) and process (process_*) collectors are in metrics_runtime.go.
type Registry struct {
	mu         sync.Mutex
	families   []*family
	collectors []func() []rendered
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

type metricKind string

const (
	kindCounter   metricKind = "counter"
	kindGauge     metricKind = "gauge"
	kindHistogram metricKind = "histogram"
	kindSummary   metricKind = "summary"
)

// family is one metric family: a name, its help, its label names and its series.
type family struct {
	name, help string
	kind       metricKind
	labels     []string  // label names, in the order their values are given
	order      []int     // indexes of labels in the order they are written (sorted by name)
	buckets    []float64 // upper bounds of a histogram's buckets, ascending, without +Inf

	mu     sync.Mutex
	series map[string]*series // by label values joined with \xff
}

type series struct {
	values []string // label values, in family.labels order
	value  float64  // counter, gauge
	counts []uint64 // histogram: observations per bucket (not cumulative), the last one for +Inf
	count  uint64
	sum    float64
}

// add registers a family; a second family of the same name is a programming error.
func (r *Registry) add(name, help string, kind metricKind, buckets []float64, labels []string) *family {
	f := &family{name: name, help: help, kind: kind, labels: labels, buckets: buckets, series: map[string]*series{}}
	for i := range labels {
		f.order = append(f.order, i)
	}
	slices.SortFunc(f.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.families {
		if g.name == name {
			panic("metric " + name + " registered twice")
		}
	}
	r.families = append(r.families, f)
	return f
}

// with returns the series of the label values, creating it.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metric %s: %d label values for %d labels", f.name, len(values), len(f.labels)))
	}
	key := strings.Join(values, "\xff")
	s := f.series[key]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		if f.kind == kindHistogram {
			s.counts = make([]uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// The metric kinds. Each is a family and the label values of one series; the zero label list is the family's only
// series. Updates lock the family: a pass makes a few thousand at most.

type counterVec struct{ f *family }

type counter struct {
	f      *family
	values []string
}

func (v counterVec) WithLabelValues(values ...string) counter {
	v.f.mu.Lock()
	v.f.with(values)
	v.f.mu.Unlock()
	return counter{v.f, values}
}

// Add adds d, which must not be negative (a counter only goes up).
func (c counter) Add(d float64) {
	if d < 0 {
		panic("metric " + c.f.name + ": a counter cannot decrease")
	}
	c.f.mu.Lock()
	c.f.with(c.values).value += d
	c.f.mu.Unlock()
}

func (c counter) Inc() { c.Add(1) }

type gaugeVec struct{ f *family }

type gauge struct {
	f      *family
	values []string
}

func (v gaugeVec) WithLabelValues(values ...string) gauge {
	v.f.mu.Lock()
	v.f.with(values)
	v.f.mu.Unlock()
	return gauge{v.f, values}
}

func (g gauge) Set(x float64) {
	g.f.mu.Lock()
	g.f.with(g.values).value = x
	g.f.mu.Unlock()
}

type histogramVec struct{ f *family }

type histogram struct {
	f      *family
	values []string
}

func (v histogramVec) WithLabelValues(values ...string) histogram { return histogram{v.f, values} }

// Observe counts x in the first bucket whose upper bound is at least x.
func (h histogram) Observe(x float64) {
	i, _ := slices.BinarySearch(h.f.buckets, x)
	h.f.mu.Lock()
	s := h.f.with(h.values)
	s.counts[i]++
	s.count++
	s.sum += x
	h.f.mu.Unlock()
}

// The helpers NewMetrics uses: one line each to add a metric.

func (r *Registry) counterVec(name, help string, labels ...string) counterVec {
	return counterVec{r.add(name, help, kindCounter, nil, labels)}
}

func (r *Registry) counter(name, help string) counter {
	return r.counterVec(name, help).WithLabelValues()
}

func (r *Registry) gaugeVec(name, help string, labels ...string) gaugeVec {
	return gaugeVec{r.add(name, help, kindGauge, nil, labels)}
}

func (r *Registry) gauge(name, help string) gauge { return r.gaugeVec(name, help).WithLabelValues() }

func (r *Registry) histogramVec(name, help string, buckets []float64, labels ...string) histogramVec {
	if !slices.IsSorted(buckets) || len(buckets) == 0 || math.IsInf(buckets[len(buckets)-1], +1) {
		panic("metric " + name + ": buckets must be ascending, finite and not empty")
	}
	return histogramVec{r.add(name, help, kindHistogram, slices.Clone(buckets), labels)}
}

func (r *Registry) histogram(name, help string, buckets []float64) histogram {
	return r.histogramVec(name, help, buckets).WithLabelValues()
}

// exponentialBuckets returns n upper bounds, start, start*factor, ..., computed as client_golang computes them (a
// running product), so that the le labels are the same.
func exponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// collect adds a collector: a function run at every scrape that renders families of its own.
func (r *Registry) collect(c func() []rendered) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, c)
}

// rendered is one family in the text format.
type rendered struct {
	name string
	text []byte
}

// WriteTo writes every family in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	families, collectors := slices.Clone(r.families), slices.Clone(r.collectors)
	r.mu.Unlock()
	var all []rendered
	for _, f := range families {
		if text := f.render(); text != nil {
			all = append(all, rendered{f.name, text})
		}
	}
	for _, c := range collectors {
		all = append(all, c()...)
	}
	slices.SortFunc(all, func(a, b rendered) int { return strings.Compare(a.name, b.name) })
	var n int64
	for _, f := range all {
		m, err := w.Write(f.text)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (f *family) render() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.series) == 0 {
		return nil
	}
	all := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b *series) int {
		for _, i := range f.order {
			if c := strings.Compare(a.values[i], b.values[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	var b bytes.Buffer
	header(&b, f.name, f.help, f.kind)
	pairs := make([]string, 0, 2*len(f.labels)+2)
	for _, s := range all {
		pairs = pairs[:0]
		for _, i := range f.order {
			pairs = append(pairs, f.labels[i], s.values[i])
		}
		if f.kind != kindHistogram {
			sample(&b, f.name, pairs, s.value)
			continue
		}
		var cum uint64
		for i, le := range f.buckets {
			cum += s.counts[i]
			sampleUint(&b, f.name+"_bucket", append(pairs, "le", formatFloat(le)), cum)
		}
		sampleUint(&b, f.name+"_bucket", append(pairs, "le", "+Inf"), s.count)
		sample(&b, f.name+"_sum", pairs, s.sum)
		sampleUint(&b, f.name+"_count", pairs, s.count)
	}
	return b.Bytes()
}

// header writes the HELP and TYPE lines of a family.
func header(b *bytes.Buffer, name, help string, kind metricKind) {
	b.WriteString("# HELP ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(helpEscaper.Replace(help))
	b.WriteString("\n# TYPE ")
	b.WriteString(name)
	b.WriteByte(' ')
	b.WriteString(string(kind))
	b.WriteByte('\n')
}

// sample writes one sample line; pairs are label names and values, alternately.
func sample(b *bytes.Buffer, name string, pairs []string, v float64) {
	labelSet(b, name, pairs)
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

func sampleUint(b *bytes.Buffer, name string, pairs []string, v uint64) {
	labelSet(b, name, pairs)
	b.WriteString(strconv.FormatUint(v, 10))
	b.WriteByte('\n')
}

func labelSet(b *bytes.Buffer, name string, pairs []string) {
	b.WriteString(name)
	for i := 0; i < len(pairs); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(pairs[i+1]))
		b.WriteByte('"')
	}
	if len(pairs) > 0 {
		b.WriteByte('}')
	}
	b.WriteByte(' ')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// formatFloat writes a value as client_golang's text encoder does.
func formatFloat(f float64) string {
	switch {
	case f == 0:
		return "0" // and not -0
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP serves the metrics, gzip-compressed when the client accepts it (as Prometheus does).
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body bytes.Buffer
	if _, err := r.WriteTo(&body); err != nil {
		http.Error(w, "write metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(req.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(body.Len()))
		_, _ = body.WriteTo(w)
		return
	}
	h.Set("Content-Encoding", "gzip")
	zw := gzip.NewWriter(w)
	_, _ = body.WriteTo(zw)
	_ = zw.Close()
}

// acceptsGzip says whether an Accept-Encoding header accepts gzip (and does not refuse it with q=0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

// Reset drops every series of the family: a gauge whose label sets come and go (the registries failing now).
func (v gaugeVec) Reset() {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	clear(v.f.series)
}
