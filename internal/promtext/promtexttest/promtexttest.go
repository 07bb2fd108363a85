// Package promtexttest judges a Prometheus text exposition with Prometheus's own code: the text parser of
// github.com/prometheus/common/expfmt (with the text format's own name rules) and the linter of client_golang's
// testutil/promlint, plus what neither checks: every histogram's buckets increasing and cumulative, ending in +Inf
// with the count. Tests import it, like net/http/httptest; the daemon never does, so that client_golang and common
// stay out of the binary (the release test builds it and checks).
package promtexttest

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses text (the body of a scrape) and lints it; a parse error fails the test at once, every lint problem
// and broken histogram is an error. It returns the families by name.
func Parse(t testing.TB, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	if len(text) == 0 || text[len(text)-1] != '\n' {
		t.Fatalf("the exposition is empty or does not end with a newline:\n%s", text)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, text)
	}
	for _, problem := range Lint(t, fams) {
		t.Errorf("promlint: %s: %s", problem.Metric, problem.Text)
	}
	for name, mf := range fams {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range mf.GetMetric() {
			if err := checkHistogram(m.GetHistogram()); err != "" {
				t.Errorf("%s%s: %s", name, labelSet(m.GetLabel(), "", ""), err)
			}
		}
	}
	return fams
}

// Lint returns promlint's problems with the families.
func Lint(t testing.TB, fams map[string]*dto.MetricFamily) []promlint.Problem {
	t.Helper()
	var list []*dto.MetricFamily
	for _, mf := range fams {
		list = append(list, mf)
	}
	problems, err := promlint.NewWithMetricFamilies(list).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	return problems
}

func checkHistogram(h *dto.Histogram) string {
	b := h.GetBucket()
	if len(b) == 0 || !math.IsInf(b[len(b)-1].GetUpperBound(), +1) {
		return "no +Inf bucket last"
	}
	for i := 1; i < len(b); i++ {
		if b[i].GetUpperBound() <= b[i-1].GetUpperBound() || b[i].GetCumulativeCount() < b[i-1].GetCumulativeCount() {
			return "buckets not increasing, or counts not cumulative"
		}
	}
	if b[len(b)-1].GetCumulativeCount() != h.GetSampleCount() {
		return "the +Inf bucket differs from the count"
	}
	return ""
}

// Samples flattens families into their samples, keyed as the text format writes them: name{label="value",...}
// with label names sorted (le and quantile last) and values escaped; histograms and summaries give their _bucket
// or quantile samples, _sum and _count.
func Samples(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range fams {
		for _, m := range mf.GetMetric() {
			labels := m.GetLabel()
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					out[name+"_bucket"+labelSet(labels, "le", format(b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
				out[name+"_sum"+labelSet(labels, "", "")] = h.GetSampleSum()
				out[name+"_count"+labelSet(labels, "", "")] = float64(h.GetSampleCount())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out[name+labelSet(labels, "quantile", format(q.GetQuantile()))] = q.GetValue()
				}
				out[name+"_sum"+labelSet(labels, "", "")] = s.GetSampleSum()
				out[name+"_count"+labelSet(labels, "", "")] = float64(s.GetSampleCount())
			case dto.MetricType_COUNTER:
				out[name+labelSet(labels, "", "")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+labelSet(labels, "", "")] = m.GetGauge().GetValue()
			default:
				out[name+labelSet(labels, "", "")] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

var escaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// labelSet writes {a="x",b="y"} with names sorted and the extra label (le, quantile) last; "" without labels.
func labelSet(labels []*dto.LabelPair, extra, value string) string {
	labels = slices.Clone(labels)
	slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	var parts []string
	for _, l := range labels {
		parts = append(parts, l.GetName()+`="`+escaper.Replace(l.GetValue())+`"`)
	}
	if extra != "" {
		parts = append(parts, extra+`="`+value+`"`)
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func format(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
