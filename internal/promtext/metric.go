package promtext

import (
	"math"
	"slices"
)

// The metric kinds, made by the Registry's New* methods. A vector's WithLabelValues creates its series (the family
// shows it from then on, at 0) and returns a handle to it; the no-label forms are the family's only series. Updates
// lock the family: the daemon makes a few thousand per pass at most.

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family }

// Counter is one series of a counter family.
type Counter struct {
	f *family
	s *series
}

// NewCounterVec registers a counter family with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) CounterVec {
	return CounterVec{r.add(&family{name: name, help: help, kind: kindCounter, labels: labels})}
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) Counter {
	return r.NewCounterVec(name, help).WithLabelValues()
}

// WithLabelValues returns the series of the label values (given in the order of the label names), creating it.
func (v CounterVec) WithLabelValues(values ...string) Counter {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	return Counter{v.f, v.f.with(values)}
}

// Add adds d, which must not be negative (a counter only goes up).
func (c Counter) Add(d float64) {
	if d < 0 {
		panic("promtext: metric " + c.f.name + ": a counter cannot decrease")
	}
	c.f.mu.Lock()
	c.s.value += d
	c.f.mu.Unlock()
}

// Inc adds 1.
func (c Counter) Inc() { c.Add(1) }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family }

// Gauge is one series of a gauge family.
type Gauge struct {
	f *family
	s *series
}

// NewGaugeVec registers a gauge family with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) GaugeVec {
	return GaugeVec{r.add(&family{name: name, help: help, kind: kindGauge, labels: labels})}
}

// NewGauge registers a gauge without labels.
func (r *Registry) NewGauge(name, help string) Gauge {
	return r.NewGaugeVec(name, help).WithLabelValues()
}

// WithLabelValues returns the series of the label values, creating it.
func (v GaugeVec) WithLabelValues(values ...string) Gauge {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	return Gauge{v.f, v.f.with(values)}
}

// Set sets the gauge to x.
func (g Gauge) Set(x float64) {
	g.f.mu.Lock()
	g.s.value = x
	g.f.mu.Unlock()
}

// NewGaugeFunc registers a gauge family whose series are computed at every scrape: collect calls set once for each
// series, with its value and label values (a label set given twice keeps the last value). A scrape where collect
// sets nothing leaves the family out. This is what a client_golang Collector made of const metrics does: state
// that lives elsewhere is read when it is asked for rather than copied on every change.
func (r *Registry) NewGaugeFunc(name, help string, collect func(set func(value float64, labelValues ...string)), labels ...string) {
	r.add(&family{name: name, help: help, kind: kindGauge, labels: labels, collect: collect})
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ f *family }

// Histogram is one series of a histogram family.
type Histogram struct {
	f *family
	s *series
}

// NewHistogramVec registers a histogram family with the upper bounds of its buckets (strictly increasing; a last
// +Inf is dropped, as the +Inf bucket is always there) and the given label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) HistogramVec {
	if n := len(buckets); n > 0 && math.IsInf(buckets[n-1], +1) {
		buckets = buckets[:n-1]
	}
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && b <= buckets[i-1] {
			panic("promtext: metric " + name + ": buckets must be finite and in increasing order")
		}
	}
	if len(buckets) == 0 {
		panic("promtext: metric " + name + ": no buckets")
	}
	return HistogramVec{r.add(&family{name: name, help: help, kind: kindHistogram, labels: labels, buckets: slices.Clone(buckets)})}
}

// NewHistogram registers a histogram without labels.
func (r *Registry) NewHistogram(name, help string, buckets []float64) Histogram {
	return r.NewHistogramVec(name, help, buckets).WithLabelValues()
}

// WithLabelValues returns the series of the label values, creating it.
func (v HistogramVec) WithLabelValues(values ...string) Histogram {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	return Histogram{v.f, v.f.with(values)}
}

// Observe counts x in the first bucket whose upper bound is at least x. NaN is counted in the +Inf bucket only
// (and makes the sum NaN), as client_golang counts it.
func (h Histogram) Observe(x float64) {
	i := len(h.f.buckets)
	if !math.IsNaN(x) {
		i, _ = slices.BinarySearch(h.f.buckets, x)
	}
	h.f.mu.Lock()
	h.s.counts[i]++
	h.s.count++
	h.s.sum += x
	h.f.mu.Unlock()
}

// ExponentialBuckets returns n upper bounds, start, start*factor, ..., computed as client_golang computes them (a
// running product), so that the le labels are the same.
func ExponentialBuckets(start, factor float64, n int) []float64 {
	if n < 1 || start <= 0 || factor <= 1 {
		panic("promtext: ExponentialBuckets needs n >= 1, start > 0 and factor > 1")
	}
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}
