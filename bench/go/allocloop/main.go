// Command allocloop is the allocation-heavy workload of scripts/bench-heap.sh: one
// goroutine allocating in a tight loop, each iteration a 64-byte []byte and a small
// struct holding it, both kept alive briefly in a ring of -ring slots (so they survive
// a few thousand allocations and then become garbage).
//
//	allocloop [-d 2] [-ring 4096] [-rate 524288] [-depth 0]
//
// It prints "ready pid=PID gomaxprocs=N go=VERSION memprofilerate=R" on stdout, then,
// for every SIGUSR1 it receives, allocates for -d seconds and prints one line
//
//	window n=N allocs=A secs=S allocs_per_sec=R ns_per_alloc=T memprofilerate=M
//
// (two allocations per iteration; memprofilerate is runtime.MemProfileRate at the end
// of the window, i.e. what a tracer may have written). SIGUSR2 runs the same window
// with Go's own heap sampler switched on by the program itself (runtime.MemProfileRate
// = the -rate flag, 524288 by default, the rate goscope's sampled mode writes; put back after):
// the untraced twin of a sampled window, so the two differ by goscope's probes only.
// -depth N runs the loop N calls deeper (frames of ~100 bytes each): allocations in
// real programs come from stacks 10-30 frames deep, and a tracer that walks the
// stack pays for each frame. Exits on SIGTERM or SIGINT.
// It does not import runtime/pprof, so the linker leaves MemProfileRate at 0: the
// production case for goscope's sampled mode.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

type node struct {
	buf  []byte
	seq  int
	next *node
}

var ring []*node

func window(d time.Duration) (allocs int, secs float64) {
	start := time.Now()
	deadline := start.Add(d)
	var prev *node
	for i := 0; ; i++ {
		// check the clock every 1024 iterations only
		if i&1023 == 0 && i > 0 && time.Now().After(deadline) {
			break
		}
		b := make([]byte, 64)
		b[0] = byte(i)
		n := &node{buf: b, seq: i, next: prev}
		prev = nil
		if i&7 == 0 {
			prev = n
		}
		ring[i%len(ring)] = n
		allocs += 2
	}
	return allocs, time.Since(start).Seconds()
}

func main() {
	d := flag.Float64("d", 2, "seconds to allocate per SIGUSR1")
	size := flag.Int("ring", 4096, "objects kept alive (ring slots)")
	rate := flag.Int("rate", 524288, "runtime.MemProfileRate of a SIGUSR2 window")
	flag.IntVar(&depth, "depth", 0, "run the loop this many calls deeper")
	flag.Parse()
	ring = make([]*node, *size)

	usr1 := make(chan os.Signal, 1)
	usr2 := make(chan os.Signal, 1)
	stop := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("ready pid=%d gomaxprocs=%d go=%s memprofilerate=%d\n", os.Getpid(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.MemProfileRate)
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-usr1:
			report(n, *d)
		case <-usr2:
			before := runtime.MemProfileRate
			runtime.MemProfileRate = *rate
			report(n, *d)
			runtime.MemProfileRate = before
		}
	}
}

var depth int

// deeper calls window through n frames of its own.
//
//go:noinline
func deeper(n int, d time.Duration) (int, float64) {
	if n <= 0 {
		return window(d)
	}
	var pad [8]uint64 // ~100-byte frames, as in typical Go code
	pad[n&7] = uint64(n)
	allocs, secs := deeper(n-1, d)
	return allocs + int(pad[n&7]-uint64(n)), secs
}

// report allocates for d seconds and prints the window's line.
func report(n int, d float64) {
	allocs, secs := deeper(depth, time.Duration(d*float64(time.Second)))
	fmt.Printf("window n=%d allocs=%d secs=%.3f allocs_per_sec=%.0f ns_per_alloc=%.2f memprofilerate=%d\n",
		n, allocs, secs, float64(allocs)/secs, secs*1e9/float64(allocs), runtime.MemProfileRate)
}
