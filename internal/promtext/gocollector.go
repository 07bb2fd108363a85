package promtext

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// RegisterGoCollector registers the go_* families of client_golang's default Go collector
// (collectors.NewGoCollector()), with the same names, types and help, read from runtime.MemStats,
// debug.ReadGCStats and runtime/metrics at every scrape.
func (r *Registry) RegisterGoCollector() {
	names := []string{"go_gc_duration_seconds", "go_goroutines", "go_threads", "go_info"}
	for _, m := range memStatsMetrics {
		names = append(names, m.name)
	}
	for _, s := range runtimeSamples {
		names = append(names, s.name)
	}
	r.collect(names, goCollector)
}

type runtimeMetric struct {
	name, help string
	kind       metricKind
	value      func(ms *runtime.MemStats) float64
}

var memStatsMetrics = []runtimeMetric{
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.Alloc) }},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.TotalAlloc) }},
	{"go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.BuckHashSys) }},
	{"go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.Frees) }},
	{"go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.GCSys) }},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapAlloc) }},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapIdle) }},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapInuse) }},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapObjects) }},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapReleased) }},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.HeapSys) }},
	{"go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.LastGC) / 1e9 }},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", kindCounter, func(ms *runtime.MemStats) float64 { return float64(ms.Mallocs) }},
	{"go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MCacheInuse) }},
	{"go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MCacheSys) }},
	{"go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MSpanInuse) }},
	{"go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.MSpanSys) }},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.NextGC) }},
	{"go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.OtherSys) }},
	{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.StackInuse) }},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.StackSys) }},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", kindGauge, func(ms *runtime.MemStats) float64 { return float64(ms.Sys) }},
}

// runtime/metrics samples exported as gauges.
var runtimeSamples = []struct{ name, help, key string }{
	{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", "/gc/gogc:percent"},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", "/gc/gomemlimit:bytes"},
	{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", "/sched/gomaxprocs:threads"},
}

// goCollector renders the go_* families.
func goCollector() []rendered {
	var out []rendered
	family := func(name, help string, kind metricKind, samples func(b *bytes.Buffer)) {
		var b bytes.Buffer
		header(&b, name, help, kind)
		samples(&b)
		out = append(out, rendered{name, b.Bytes()})
	}
	gauge := func(name, help string, kind metricKind, v float64) {
		family(name, help, kind, func(b *bytes.Buffer) { sample(b, name, nil, v) })
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range memStatsMetrics {
		gauge(m.name, m.help, m.kind, m.value(&ms))
	}

	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	family("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", kindSummary, func(b *bytes.Buffer) {
		for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
			sample(b, "go_gc_duration_seconds", []string{"quantile", q}, gc.PauseQuantiles[i].Seconds())
		}
		sample(b, "go_gc_duration_seconds_sum", nil, gc.PauseTotal.Seconds())
		sampleUint(b, "go_gc_duration_seconds_count", nil, uint64(gc.NumGC))
	})

	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, s := range runtimeSamples {
		samples[i].Name = s.key
	}
	metrics.Read(samples)
	for i, s := range runtimeSamples {
		var v float64
		switch samples[i].Value.Kind() {
		case metrics.KindUint64:
			v = float64(samples[i].Value.Uint64())
		case metrics.KindFloat64:
			v = samples[i].Value.Float64()
		default:
			continue // not in this Go version
		}
		gauge(s.name, s.help, kindGauge, v)
	}

	gauge("go_goroutines", "Number of goroutines that currently exist.", kindGauge, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	gauge("go_threads", "Number of OS threads created.", kindGauge, float64(threads))
	family("go_info", "Information about the Go environment.", kindGauge, func(b *bytes.Buffer) {
		sample(b, "go_info", []string{"version", runtime.Version()}, 1)
	})
	return out
}
