package main

import "goscope.test/symtest/shapes"

// Leaf helpers: each is far under the inlining budget.

func add(a, b uint64) uint64 { return a + b }
func mul(a, b uint64) uint64 { return a * b }
func rotl(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }
func mix(x, y uint64) uint64 { return rotl(add(x, mul(y, 0x9e3779b97f4a7c15)), 31) }

// Chains: level3 -> level2 -> level1 -> mix -> rotl/add/mul, all inlined into
// the loop in runInline, so one PC there has an inline stack 5 or 6 deep.
func level1(x uint64) uint64 { return mix(x, x^0xff) }
func level2(x uint64) uint64 { return level1(x) + 1 }
func level3(x uint64) uint64 { return level2(x) ^ 7 }

func clamp(x, lo, hi int) int {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func isEven(x int) bool { return x%2 == 0 }

// notInlined is big enough (a loop with a call) that it stays a real call.
//
//go:noinline
func notInlined(xs []uint64) uint64 {
	var s uint64
	for i, x := range xs {
		s = mix(s, x+uint64(i))
	}
	return s
}

func runInline(n int) uint64 {
	var acc uint64
	xs := make([]uint64, 0, 64)
	for i := 0; i < n; i++ {
		acc = level3(acc + uint64(i))
		if isEven(i) {
			acc = add(acc, uint64(clamp(i, 10, 1000)))
		}
		xs = append(xs, acc)
		if len(xs) == cap(xs) {
			acc ^= notInlined(xs)
			xs = xs[:0]
		}
		d := shapes.Dist([2]float64{float64(i), 0}, [2]float64{0, float64(n - i)})
		acc += uint64(d)
	}
	return acc
}
