// Command heapprog runs heapwork's allocation workload on SIGUSR1, for
// goscope's heap-profiling tests. It imports neither runtime/pprof nor
// anything else that references runtime.MemProfile, so the linker disables
// memory profiling and the runtime starts with MemProfileRate = 0
// (heapprog_pprof is the same program with runtime/pprof).
//
// Protocol: prints "heapprog: ready pid=N memprofilerate=R" on stdout and waits
// for SIGUSR1; runs the -mode workload (sampled or exact); prints
// "heapprog: done memprofilerate=R"; then waits for SIGUSR1 or SIGTERM and exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"goscope.test/heapwork"
)

var (
	mode = flag.String("mode", "sampled", "workload: sampled or exact")
	bMiB = flag.Int("b", 100, "sampled: MiB allocated at SiteB (SiteA allocates 3x)")
)

func main() {
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM)
	heapwork.Prepare()
	fmt.Printf("heapprog: ready pid=%d memprofilerate=%d\n", os.Getpid(), runtime.MemProfileRate)
	<-sig
	switch *mode {
	case "exact":
		heapwork.Exact()
	default:
		heapwork.Sampled(*bMiB)
	}
	fmt.Printf("heapprog: done memprofilerate=%d\n", runtime.MemProfileRate)
	<-sig
}
