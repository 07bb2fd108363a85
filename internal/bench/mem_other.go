//go:build !linux

package main

import (
	"errors"
	"time"
)

func procStatus() (map[string]int64, error) { return procStatusOf("self") }

func procStatusOf(string) (map[string]int64, error) {
	return nil, errors.New("no /proc/<pid>/status on this system")
}

func residentPages(int, uint64, uint64) ([]pageState, error) {
	return nil, errors.New("no /proc/<pid>/pagemap on this system")
}

func maxRSS() int64 { return 0 }

func cpuModel() string { return "unknown" }

func cpuTime() time.Duration { return 0 }
