package promtext

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processValues reads the process_* figures on Linux from /proc/self and getrlimit, as client_golang's process
// collector (through procfs) does. A figure that cannot be read is left out.
func processValues() map[string]float64 {
	out := map[string]float64{}
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
				out["process_cpu_seconds_total"] = (ut + st) / userHZ
			}
			if v := num(23); v >= 0 {
				out["process_virtual_memory_bytes"] = v
			}
			if v := num(24); v >= 0 {
				out["process_resident_memory_bytes"] = v * float64(os.Getpagesize())
			}
			if start, boot := num(22), bootTime(); start >= 0 && boot > 0 {
				out["process_start_time_seconds"] = boot + start/userHZ
			}
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		out["process_open_fds"] = float64(len(fds))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		out["process_max_fds"] = float64(lim.Cur)
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		out["process_virtual_memory_max_bytes"] = float64(lim.Cur)
	}
	if rx, tx, ok := netDev(); ok {
		out["process_network_receive_bytes_total"] = rx
		out["process_network_transmit_bytes_total"] = tx
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
