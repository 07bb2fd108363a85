// Package parallel owns the one way this module runs work concurrently: a fixed number of goroutines over the
// indexes of a slice, waiting for all. The updater and doctor bound their requests with it.
package parallel

import "sync"

// ForEach calls fn(0), ..., fn(n-1) on at most limit goroutines (limit <= 0: one per index) and returns when
// every call has returned.
func ForEach(n, limit int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	next := make(chan int)
	var wg sync.WaitGroup
	wg.Add(limit)
	for range limit {
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
