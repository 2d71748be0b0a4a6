package main

import "sort"

type op func(uint64) uint64

func makeAdder(k uint64) op {
	return func(x uint64) uint64 { return x + k }
}

func makeChain(ops ...op) op {
	return func(x uint64) uint64 {
		for _, o := range ops {
			x = o(x)
		}
		return x
	}
}

func runClosures(n int) uint64 {
	var total uint64
	counter := 0
	bump := func(by int) { counter += by } // captured by reference
	square := func(x uint64) uint64 { return x * x }
	chain := makeChain(makeAdder(3), square, makeAdder(uint64(n)), func(x uint64) uint64 { return x >> 1 })
	for i := 0; i < n; i++ {
		total += chain(uint64(i))
		bump(i & 3)
	}
	vals := make([]int, 0, n)
	for i := 0; i < n; i++ {
		vals = append(vals, (i*7919)%n)
	}
	sort.Slice(vals, func(a, b int) bool { return vals[a] < vals[b] })
	func() {
		defer func() { total += uint64(counter) }()
		total += uint64(vals[len(vals)/2])
	}()
	return total
}
