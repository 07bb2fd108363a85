package updater

import (
	"syscall"
	"unsafe"
)

// processCollector renders the process_* families of client_golang's process collector on Windows.

var (
	psapi                    = syscall.NewLazyDLL("psapi.dll")
	kernel32                 = syscall.NewLazyDLL("kernel32.dll")
	procGetProcessMemoryInfo = psapi.NewProc("GetProcessMemoryInfo")
	procGetProcessHandleCnt  = kernel32.NewProc("GetProcessHandleCount")
)

// processMemoryCountersEx is PROCESS_MEMORY_COUNTERS_EX.
type processMemoryCountersEx struct {
	CB                         uint32
	PageFaultCount             uint32
	PeakWorkingSetSize         uintptr
	WorkingSetSize             uintptr
	QuotaPeakPagedPoolUsage    uintptr
	QuotaPagedPoolUsage        uintptr
	QuotaPeakNonPagedPoolUsage uintptr
	QuotaNonPagedPoolUsage     uintptr
	PagefileUsage              uintptr
	PeakPagefileUsage          uintptr
	PrivateUsage               uintptr
}

func processCollector() []rendered {
	var out []rendered
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return nil
	}
	var start, exit, kernel, user syscall.Filetime
	if syscall.GetProcessTimes(h, &start, &exit, &kernel, &user) == nil {
		seconds := func(t syscall.Filetime) float64 {
			return float64(uint64(t.HighDateTime)<<32|uint64(t.LowDateTime)) / 1e7
		}
		out = processGauge(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", kindCounter, seconds(kernel)+seconds(user))
		out = processGauge(out, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kindGauge, float64(start.Nanoseconds()/1e9))
	}
	mem := processMemoryCountersEx{CB: uint32(unsafe.Sizeof(processMemoryCountersEx{}))}
	if ok, _, _ := procGetProcessMemoryInfo.Call(uintptr(h), uintptr(unsafe.Pointer(&mem)), uintptr(mem.CB)); ok != 0 {
		out = processGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", kindGauge, float64(mem.PrivateUsage))
		out = processGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", kindGauge, float64(mem.WorkingSetSize))
	}
	var handles uint32
	if ok, _, _ := procGetProcessHandleCnt.Call(uintptr(h), uintptr(unsafe.Pointer(&handles))); ok != 0 {
		out = processGauge(out, "process_open_fds", "Number of open file descriptors.", kindGauge, float64(handles))
	}
	// Windows has a fixed limit of handles, not a per-process one.
	out = processGauge(out, "process_max_fds", "Maximum number of open file descriptors.", kindGauge, float64(16*1024*1024))
	return out
}
