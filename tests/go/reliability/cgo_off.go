//go:build !cgo

package main

// cmix is cgo_on.go's C function in Go, for builds without cgo.
func cmix(x, i uint64) uint64 {
	x ^= i + 0x9e3779b97f4a7c15 + (x << 6) + (x >> 2)
	return x
}
