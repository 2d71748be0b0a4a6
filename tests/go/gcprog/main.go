// Command gcprog runs a fixed garbage-collection workload each time it gets
// SIGUSR1, for checking goscope's GC tracing against the runtime's own
// GODEBUG=gctrace=1 lines.
//
// It prints "ready" on stdout once it waits for the signal. On each SIGUSR1 it
// writes "gcprog: begin" to stderr, allocates -alloc MiB in objects of 1-64 KiB
// while keeping about -live MiB reachable (so the heap trigger starts natural
// cycles), calls runtime.GC() -forced times spread over the run and once more
// at the end, waits 200 ms (so the last gctrace line is out), writes
// "gcprog: end" to stderr and prints "done" on stdout. Between workloads it
// allocates nothing, so no cycle runs (except the runtime's 2-minute forced
// one). Run with GODEBUG=gctrace=1: every cycle of the workload then has its
// gctrace line between the two markers on stderr.
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

var (
	allocMiB = flag.Int("alloc", 192, "MiB to allocate per workload")
	liveMiB  = flag.Int("live", 8, "MiB kept reachable during the workload")
	forced   = flag.Int("forced", 3, "runtime.GC() calls during the workload (one more runs at its end)")
)

// sink keeps the live set reachable; the workload replaces its slots in turn.
var sink [][]byte

func workload() {
	total := *allocMiB << 20
	live := *liveMiB << 20
	const maxObj = 64 << 10
	slots := live / (maxObj / 2)
	if slots < 1 {
		slots = 1
	}
	sink = make([][]byte, slots)
	every := total
	if *forced > 0 {
		every = total / (*forced + 1)
	}
	next := every
	size, allocated, i := 1<<10, 0, 0
	for allocated < total {
		b := make([]byte, size)
		b[0] = byte(i)
		sink[i%slots] = b
		allocated += size
		i++
		size = size*7%maxObj + 1<<10 // 1..64 KiB, deterministic
		if *forced > 0 && allocated >= next && next < total {
			next += every
			runtime.GC()
		}
	}
	sink = nil
	runtime.GC()
}

func main() {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	fmt.Println("ready")
	for range sigs {
		fmt.Fprintln(os.Stderr, "gcprog: begin")
		workload()
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "gcprog: end")
		fmt.Println("done")
	}
}
