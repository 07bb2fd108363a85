// Package promtext owns the Prometheus metrics of this module's /metrics: a registry of counters, gauges and
// histograms (with labels or without, or computed at every scrape), the Go (go_*) and process (process_*)
// collectors, and the HTTP handler that serves them in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), gzip-compressed when the client accepts it.
//
// For the same metrics and the same observations the text is byte for byte what
// github.com/prometheus/client_golang writes: families sorted by name, each with its HELP and TYPE lines; series
// sorted by label values; label names sorted, with le and quantile last; a family without a series is left out;
// the go_* and process_* families have client_golang's names, types and help. The tests hold it to that with
// client_golang, and parse and lint it with Prometheus's own parser (expfmt) and linter (promlint). It is written here
// rather than imported because client_golang brings protobuf, client_model, common and procfs into the binary: see
// docs/performance.md.
//
// Misuse panics, at registration where client_golang's MustRegister panics: a metric or label name the text format
// cannot carry, a label name twice, le as a histogram label, a name registered twice, buckets not strictly
// increasing; and later a wrong number of label values, or a counter made to go down. Where it differs:
//   - names are checked against the text format's own rules ([a-zA-Z_:][a-zA-Z0-9_:]* for metrics,
//     [a-zA-Z_][a-zA-Z0-9_]* without a leading __ for labels), as client_golang did before it accepted any UTF-8
//     name: a text format 0.0.4 scrape could not carry the others without escaping them;
//   - in a label value that is not valid UTF-8, each bad byte is written as U+FFFD (client_golang panics):
//     label values come from Rancher, and an odd environment name must not stop the daemon.
//
// It imports nothing of this module.
package promtext

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Registry holds the metrics of one /metrics endpoint. Create it with NewRegistry; it is safe for concurrent use.
type Registry struct {
	mu         sync.Mutex
	names      map[string]bool // every family name registered, the collectors' included
	families   []*family
	collectors []func() []rendered
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

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
	buckets    []float64 // upper bounds of a histogram's buckets, strictly increasing, without +Inf
	// collect computes the series at every scrape (NewGaugeFunc); series is then unused.
	collect func(set func(value float64, labelValues ...string))

	mu     sync.Mutex
	series map[string]*series // by label values joined with \xff (which valid UTF-8 never holds)
}

type series struct {
	values []string // label values, in family.labels order
	value  float64  // counter, gauge
	counts []uint64 // histogram: observations per bucket (not cumulative), the last one for +Inf
	count  uint64
	sum    float64
}

// add checks a family's names and registers it; what client_golang's MustRegister would refuse panics.
func (r *Registry) add(f *family) *family {
	if err := checkNames(f.name, f.kind, f.labels); err != nil {
		panic("promtext: " + err.Error())
	}
	f.series = map[string]*series{}
	for i := range f.labels {
		f.order = append(f.order, i)
	}
	slices.SortFunc(f.order, func(a, b int) int { return strings.Compare(f.labels[a], f.labels[b]) })
	r.claim(f.name)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.families = append(r.families, f)
	return f
}

// claim reserves family names: a name registered twice is a programming error.
func (r *Registry) claim(names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if r.names[n] {
			panic("promtext: metric " + n + " registered twice")
		}
	}
	for _, n := range names {
		r.names[n] = true
	}
}

// checkNames says what is wrong with the names of a family, as client_golang's registration does (with the text
// format's rules for names: see the package comment).
func checkNames(name string, kind metricKind, labels []string) error {
	if !validName(name, true) {
		return fmt.Errorf("%q is not a valid metric name", name)
	}
	for i, l := range labels {
		switch {
		case !validName(l, false) || strings.HasPrefix(l, "__"):
			return fmt.Errorf("%q is not a valid label name for metric %q", l, name)
		case slices.Contains(labels[:i], l):
			return fmt.Errorf("duplicate label names for metric %q", name)
		case kind == kindHistogram && l == "le":
			return errors.New(`"le" is not allowed as label name in histograms`)
		case kind == kindSummary && l == "quantile":
			return errors.New(`"quantile" is not allowed as label name in summaries`)
		}
	}
	return nil
}

// validName says whether s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or a label name (the same without colons).
func validName(s string, metric bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' || metric && c == ':'
		if !ok {
			return false
		}
	}
	return s != ""
}

// with returns the series of the label values, creating it; f.mu is held.
func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("promtext: metric %s: %d label values for %d labels", f.name, len(values), len(f.labels)))
	}
	values = validUTF8(values)
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

// validUTF8 returns the values with U+FFFD in place of each byte that is not part of valid UTF-8 (a copy only
// then).
func validUTF8(values []string) []string {
	out := values
	for i, v := range values {
		if utf8.ValidString(v) {
			continue
		}
		if &out[0] == &values[0] {
			out = slices.Clone(values)
		}
		b := make([]byte, 0, len(v)+8)
		for len(v) > 0 {
			r, size := utf8.DecodeRuneInString(v)
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, v[:size]...)
			}
			v = v[size:]
		}
		out[i] = string(b)
	}
	return out
}

// collect adds a collector: a function run at every scrape that renders the families it claims.
func (r *Registry) collect(names []string, c func() []rendered) {
	r.claim(names...)
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
	if f.collect != nil {
		// The series of this scrape, in a family of their own; a label set given twice keeps the last value.
		g := &family{name: f.name, help: f.help, kind: f.kind, labels: f.labels, order: f.order, series: map[string]*series{}}
		f.collect(func(v float64, values ...string) { g.with(values).value = v })
		f = g
	}
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
