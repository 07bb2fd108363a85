//go:build !linux && !windows

package promtext

// processValues reads nothing on this system (the releases are for Linux and Windows).
func processValues() map[string]float64 { return nil }
