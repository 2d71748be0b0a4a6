// Command cgotest is the cgo (externally linked) test program: Go code that
// calls a tiny C function, from main and from goroutines, plus a C function
// that calls back into Go. Built with CGO_ENABLED=1 the go command links it
// with the host linker, so the binary has the layout of most distro Go
// programs (.gopclntab inside a gcc/ld-produced ELF, C runtime symbols,
// PLT/GOT). It runs briefly and exits 0.
package main

/*
#include <stdint.h>

extern uint64_t goCallback(uint64_t);

static uint64_t c_mix(uint64_t x, uint64_t y) {
	x ^= y + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
	return x;
}

static uint64_t c_calls_go(uint64_t x) {
	return goCallback(x) + 1;
}
*/
import "C"

import (
	"fmt"
	"sync"
)

//export goCallback
func goCallback(x C.uint64_t) C.uint64_t {
	return x * 3
}

func square(x uint64) uint64 { return x * x } // inlined into the loops

func mixGo(x, y uint64) uint64 {
	return uint64(C.c_mix(C.uint64_t(x), C.uint64_t(y)))
}

func worker(id int, n int, out *uint64, mu *sync.Mutex, wg *sync.WaitGroup) {
	defer wg.Done()
	var acc uint64
	for i := 0; i < n; i++ {
		acc = mixGo(acc, square(uint64(i+id)))
	}
	mu.Lock()
	*out ^= acc
	mu.Unlock()
}

func main() {
	var out uint64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go worker(w, 1000, &out, &mu, &wg)
	}
	wg.Wait()
	for i := 0; i < 100; i++ {
		out += uint64(C.c_calls_go(C.uint64_t(i)))
	}
	fmt.Printf("cgotest ok %d\n", out)
}
