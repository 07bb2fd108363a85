package promtext

import "bytes"

// processFamilies are the process_* families of client_golang's process collector
// (collectors.NewProcessCollector), with the same names, types and help. Each system reads what it can
// (processValues in process_<os>.go); a figure that cannot be read is left out of the scrape.
var processFamilies = []struct {
	name, help string
	kind       metricKind
}{
	{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", kindCounter},
	{"process_max_fds", "Maximum number of open file descriptors.", kindGauge},
	{"process_network_receive_bytes_total", "Number of bytes received by the process over the network.", kindCounter},
	{"process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", kindCounter},
	{"process_open_fds", "Number of open file descriptors.", kindGauge},
	{"process_resident_memory_bytes", "Resident memory size in bytes.", kindGauge},
	{"process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kindGauge},
	{"process_virtual_memory_bytes", "Virtual memory size in bytes.", kindGauge},
	{"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", kindGauge},
}

// RegisterProcessCollector registers the process_* families, read at every scrape.
func (r *Registry) RegisterProcessCollector() {
	names := make([]string, len(processFamilies))
	for i, f := range processFamilies {
		names[i] = f.name
	}
	r.collect(names, processCollector)
}

func processCollector() []rendered {
	values := processValues()
	var out []rendered
	for _, f := range processFamilies {
		v, ok := values[f.name]
		if !ok {
			continue
		}
		var b bytes.Buffer
		header(&b, f.name, f.help, f.kind)
		sample(&b, f.name, nil, v)
		out = append(out, rendered{f.name, b.Bytes()})
	}
	return out
}
