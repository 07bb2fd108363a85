package updater

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processCollector renders the process_* families of client_golang's process collector on Linux, read from
// /proc/self and getrlimit at every scrape. A figure that cannot be read is left out.
func processCollector() []rendered {
	var out []rendered
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		// The fields after the command name (which may hold spaces and parentheses): field 3 is f[0].
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			num := func(n int) float64 {
				if n-3 >= len(f) {
					return -1
				}
				v, err := strconv.ParseFloat(f[n-3], 64)
				if err != nil {
					return -1
				}
				return v
			}
			const userHZ = 100 // as procfs assumes
			if ut, st := num(14), num(15); ut >= 0 && st >= 0 {
				out = processGauge(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", kindCounter, (ut+st)/userHZ)
			}
			if v := num(23); v >= 0 {
				out = processGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", kindGauge, v)
			}
			if v := num(24); v >= 0 {
				out = processGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", kindGauge, v*float64(os.Getpagesize()))
			}
			if start, boot := num(22), bootTime(); start >= 0 && boot > 0 {
				out = processGauge(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kindGauge, boot+start/userHZ)
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		out = processGauge(out, "process_open_fds", "Number of open file descriptors.", kindGauge, float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		out = processGauge(out, "process_max_fds", "Maximum number of open file descriptors.", kindGauge, float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		out = processGauge(out, "process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", kindGauge, float64(lim.Cur))
	}
	if rx, tx, ok := netDev(); ok {
		out = processGauge(out, "process_network_receive_bytes_total", "Number of bytes received by the process over the network.", kindCounter, rx)
		out = processGauge(out, "process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", kindCounter, tx)
	}
	return out
}

// bootTime is btime of /proc/stat, 0 if unknown.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t
		}
	}
	return 0
}

// netDev sums the bytes received and sent over every interface of the process's network namespace, as procfs does.
func netDev() (rx, tx float64, ok bool) {
	f, err := os.Open("/proc/self/net/dev")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		_, counters, found := strings.Cut(sc.Text(), ":")
		if n < 2 || !found {
			continue
		}
		fields := strings.Fields(counters)
		if len(fields) < 16 {
			return 0, 0, false
		}
		r, err1 := strconv.ParseFloat(fields[0], 64)
		t, err2 := strconv.ParseFloat(fields[8], 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		rx, tx = rx+r, tx+t
	}
	return rx, tx, sc.Err() == nil
}
