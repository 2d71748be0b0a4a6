// Command reliability is the target of goscope's "never harm the target"
// suite (tests/reliability): a workload whose every output line is a
// deterministic checksum, so that a run under goscope can be compared byte
// for byte with a run without it. The workload leans on everything a tracer
// of the Go runtime could disturb: the allocator (maps, slices, strings,
// large and tiny objects), the scheduler (worker pools, fan-out/fan-in,
// select, WaitGroup, mutexes, thousands of short goroutines), recovered
// panics, stacks grown to several MB and copied, forced GCs and GOGC changes,
// signals the program sends itself, iter.Pull coroutines (go1.23+) and cgo
// calls (cgo builds). Builds without iter.Pull or cgo compute the same values
// in plain Go, so every binary prints the same lines.
//
// Protocol (stdout), so that goscope can attach before the work starts:
//
//	ready PID        printed at start; then one command per line on stdin:
//	go               runs the workload once and prints its result block
//	rate             prints "rate N", N = runtime.MemProfileRate now
//	exit N           exits with code N
//	panic            dies of an unrecovered panic (exit code 2)
//	EOF              exits 0
//
// A result block is one line per part ("alloc 3f2a...", "goroutines ...")
// and ends with "done".
//
// With -loop the workload runs again and again from the start, each block
// preceded by "iter N", until the program is killed; stdin commands still
// work meanwhile (each block and each answer is one write, never interleaved).
// -memprofilerate N sets runtime.MemProfileRate = N first thing in main, for
// a program that runs Go's heap sampler at its own rate.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	loop        = flag.Bool("loop", false, "run the workload until killed")
	memProfRate = flag.Int("memprofilerate", -1, "set runtime.MemProfileRate to this at start (-1: leave it)")
	stdoutMu    sync.Mutex
)

// emit writes s to stdout in one write, so that blocks printed by the -loop
// goroutine and answers to commands never interleave.
func emit(s string) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.WriteString(s)
}

func main() {
	flag.Parse()
	if *memProfRate >= 0 {
		runtime.MemProfileRate = *memProfRate
	}
	emit(fmt.Sprintf("ready %d\n", os.Getpid()))
	if *loop {
		go func() {
			for i := 1; ; i++ {
				emit(fmt.Sprintf("iter %d\n%s", i, workload()))
			}
		}()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd := strings.Fields(in.Text())
		if len(cmd) == 0 {
			continue
		}
		switch cmd[0] {
		case "go":
			emit(workload())
		case "rate":
			emit(fmt.Sprintf("rate %d\n", runtime.MemProfileRate))
		case "exit":
			code := 0
			if len(cmd) > 1 {
				code, _ = strconv.Atoi(cmd[1])
			}
			os.Exit(code)
		case "panic":
			panic("reliability: panic requested on stdin")
		default:
			emit(fmt.Sprintf("unknown command %q\n", cmd[0]))
		}
	}
	os.Exit(0)
}

// workload runs every part once and returns the result block. With
// RELIABILITY_TIMING=1 in the environment it reports each part's time on
// stderr (never stdout: the block must not depend on timing).
func workload() string {
	var b strings.Builder
	timing := os.Getenv("RELIABILITY_TIMING") == "1"
	last := time.Now()
	lap := func(name string) {
		if timing {
			now := time.Now()
			fmt.Fprintf(os.Stderr, "timing %s %.1f ms\n", name, float64(now.Sub(last).Microseconds())/1e3)
			last = now
		}
	}
	part := func(name string, v uint64) {
		fmt.Fprintf(&b, "%s %016x\n", name, v)
		lap(name)
	}
	part("alloc", allocWork())
	part("goroutines", goroutineWork())
	n, h := panicWork()
	fmt.Fprintf(&b, "panics %d %016x\n", n, h)
	lap("panics")
	part("stack", stackWork())
	gcPercent, finalized, h := gcWork()
	fmt.Fprintf(&b, "gc percent=%d finalized=%d %016x\n", gcPercent, finalized, h)
	lap("gc")
	sent, got := signalWork()
	fmt.Fprintf(&b, "signals sent=%d received=%d\n", sent, got)
	lap("signals")
	part("pull", pullWork())
	part("cgo", cgoWork())
	b.WriteString("done\n")
	return b.String()
}
