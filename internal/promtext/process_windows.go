package promtext

import (
	"syscall"
	"unsafe"
)

// processValues reads the process_* figures on Windows, as client_golang's process collector does.

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

func processValues() map[string]float64 {
	out := map[string]float64{}
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return nil
	}
	var start, exit, kernel, user syscall.Filetime
	if syscall.GetProcessTimes(h, &start, &exit, &kernel, &user) == nil {
		seconds := func(t syscall.Filetime) float64 {
			return float64(uint64(t.HighDateTime)<<32|uint64(t.LowDateTime)) / 1e7
		}
		out["process_cpu_seconds_total"] = seconds(kernel) + seconds(user)
		out["process_start_time_seconds"] = float64(start.Nanoseconds() / 1e9)
	}
	mem := processMemoryCountersEx{CB: uint32(unsafe.Sizeof(processMemoryCountersEx{}))}
	if ok, _, _ := procGetProcessMemoryInfo.Call(uintptr(h), uintptr(unsafe.Pointer(&mem)), uintptr(mem.CB)); ok != 0 {
		out["process_virtual_memory_bytes"] = float64(mem.PrivateUsage)
		out["process_resident_memory_bytes"] = float64(mem.WorkingSetSize)
	}
	var handles uint32
	if ok, _, _ := procGetProcessHandleCnt.Call(uintptr(h), uintptr(unsafe.Pointer(&handles))); ok != 0 {
		out["process_open_fds"] = float64(handles)
	}
	// Windows has a fixed limit of handles, not a per-process one.
	out["process_max_fds"] = float64(16 * 1024 * 1024)
	return out
}
