//go:build !linux && !windows

package updater

// processCollector has no process_* families on this system (the releases are for Linux and Windows).
func processCollector() []rendered { return nil }
