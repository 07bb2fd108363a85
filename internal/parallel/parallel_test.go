package parallel

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestForEach: every index once, never more than limit at a time, and a limit of 0 or above n means one each.
func TestForEach(t *testing.T) {
	for _, tc := range []struct{ n, limit, wantMax int }{{0, 3, 0}, {10, 3, 3}, {5, 0, 5}, {4, 9, 4}, {1, 1, 1}} {
		var running, most atomic.Int32
		seen := make([]atomic.Int32, tc.n)
		ForEach(tc.n, tc.limit, func(i int) {
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			seen[i].Add(1)
			running.Add(-1)
		})
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Errorf("n %d limit %d: index %d called %d times", tc.n, tc.limit, i, seen[i].Load())
			}
		}
		if int(most.Load()) != tc.wantMax {
			t.Errorf("n %d limit %d: %d at once, want %d", tc.n, tc.limit, most.Load(), tc.wantMax)
		}
	}
}
