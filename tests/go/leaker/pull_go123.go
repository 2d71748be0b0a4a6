//go:build go1.23

package main

import "iter"

func count(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; i < n; i++ {
			if !yield(i) {
				return
			}
		}
	}
}

// pullAll drains k iter.Pull coroutines; each runs on a goroutine of its own
// that the runtime creates through newcoro, not through a go statement.
func pullAll(k int) uint64 {
	var s uint64
	for j := 0; j < k; j++ {
		next, stop := iter.Pull(count(3))
		for v, ok := next(); ok; v, ok = next() {
			s += uint64(v)
		}
		stop()
	}
	return s
}

func pullGoroutines(k int) int { return k }
