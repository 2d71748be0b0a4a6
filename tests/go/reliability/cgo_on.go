//go:build cgo

package main

/*
#include <stdint.h>

static uint64_t reliability_mix(uint64_t x, uint64_t i) {
	x ^= i + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
	return x;
}
*/
import "C"

// cmix crosses into C and back (cgocall, entersyscall/exitsyscall).
func cmix(x, i uint64) uint64 { return uint64(C.reliability_mix(C.uint64_t(x), C.uint64_t(i))) }
