package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStatus reads the kB fields of /proc/self/status (VmRSS, VmHWM, RssAnon, RssFile, ...), in KiB.
func procStatus() (map[string]int64, error) { return procStatusOf("self") }

// procStatusOf reads the kB fields of /proc/<pid>/status, in KiB.
func procStatusOf(pid string) (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		value, isKB := strings.CutSuffix(strings.TrimSpace(value), " kB")
		if !ok || !isKB {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil {
			out[name] = n
		}
	}
	return out, sc.Err()
}

// maxRSS is getrusage(RUSAGE_SELF).ru_maxrss, in KiB on Linux. Linux folds into it the peak RSS of the address
// space the process had before its last execve, the parent's when the parent spawned it with vfork (as Go does), so
// the bench prefers VmHWM.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}

// cpuTime is the user + system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuModel is the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		switch strings.TrimSpace(name) {
		case "model name", "Model", "Hardware", "cpu model", "uarch":
			if v := strings.TrimSpace(value); ok && v != "" {
				return v
			}
		}
	}
	return "unknown"
}

// residentPages reads /proc/<pid>/pagemap for the pages of [start, end): whether each is resident, and whether it
// is a file page (clean page cache of the executable) or an anonymous one (written .data, .bss).
func residentPages(pid int, start, end uint64) ([]pageState, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/pagemap")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	first, n := start/pageSize, (end+pageSize-1)/pageSize-start/pageSize
	buf := make([]byte, 8*n)
	if _, err := f.ReadAt(buf, int64(first*8)); err != nil {
		return nil, fmt.Errorf("read pagemap: %w", err)
	}
	out := make([]pageState, n)
	for i := range out {
		e := binary.LittleEndian.Uint64(buf[8*i:])
		switch {
		case e&(1<<63) == 0: // not present
		case e&(1<<61) != 0:
			out[i] = pageFile
		default:
			out[i] = pageAnon
		}
	}
	return out, nil
}
