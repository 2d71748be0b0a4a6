//go:build go1.23

package main

import "iter"

func fibSeq(k int) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		a, b := uint64(k), uint64(1)
		for {
			if !yield(a) {
				return
			}
			a, b = b, a+b
		}
	}
}

func finiteSeq(n int) iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		for i := 0; i < n; i++ {
			if !yield(uint64(i)) {
				return
			}
		}
	}
}

// pullWork runs 1000 iter.Pull coroutines (each a goroutine the runtime
// creates through newcoro and switches to with coroswitch): infinite
// sequences stopped early, and finite ones drained to the end.
func pullWork() uint64 {
	var total uint64
	for k := 0; k < 1000; k++ {
		if k%2 == 0 {
			next, stop := iter.Pull(fibSeq(k))
			for i := 0; i < 50; i++ {
				v, _ := next()
				total = total*31 + v
			}
			stop()
		} else {
			next, stop := iter.Pull(finiteSeq(k))
			for v, ok := next(); ok; v, ok = next() {
				total = total*31 + v
			}
			stop()
		}
	}
	return total
}
