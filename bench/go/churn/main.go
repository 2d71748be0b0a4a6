// Command churn is the goroutine-churn workload of scripts/bench-goroutines.sh: a loop
// that creates -batch goroutines, waits for all of them to exit, and starts over, for
// -duration. Each goroutine does nothing but signal the WaitGroup, so the figure is the
// runtime's cost of creating, scheduling and destroying a goroutine, which is exactly
// where goscope attach puts its two probes (the CALL runqput after newproc1, and
// gdestroy or goexit1).
//
//	churn [-duration 5s] [-batch 100] [-wait-signal] [-linger]
//
// Output on stdout, one line each:
//
//	ready pid=PID gomaxprocs=N go=VERSION
//	result goroutines=N seconds=S goroutines_per_sec=R ns_per_goroutine=T
//
// With -wait-signal the measured loop starts on SIGUSR1 (after "ready"), so a tracer can
// attach and go live first. With -linger the program stays up after "result" until
// SIGTERM or SIGINT, so the tracer can end its run while the process is still there.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of the measured loop")
	batch := flag.Int("batch", 100, "goroutines created before waiting for them to exit")
	waitSignal := flag.Bool("wait-signal", false, "start the measured loop on SIGUSR1")
	linger := flag.Bool("linger", false, "after the result, wait for SIGTERM or SIGINT before exiting")
	flag.Parse()
	if *batch < 1 {
		fmt.Fprintln(os.Stderr, "churn: -batch must be at least 1")
		os.Exit(2)
	}

	start := make(chan os.Signal, 1)
	stop := make(chan os.Signal, 1)
	signal.Notify(start, syscall.SIGUSR1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	// Warm up: grow the free-g lists and stacks to their steady state.
	churn(*batch, 200*time.Millisecond)

	fmt.Printf("ready pid=%d gomaxprocs=%d go=%s\n", os.Getpid(), runtime.GOMAXPROCS(0), runtime.Version())
	if *waitSignal {
		select {
		case <-start:
		case <-stop:
			return
		}
	}
	n, elapsed := churn(*batch, *duration)
	secs := elapsed.Seconds()
	fmt.Printf("result goroutines=%d seconds=%.3f goroutines_per_sec=%.0f ns_per_goroutine=%.1f\n",
		n, secs, float64(n)/secs, float64(elapsed.Nanoseconds())/float64(n))
	if *linger {
		<-stop
	}
}

// churn creates and joins goroutines in batches until d has passed; it returns how many
// it created and the time taken (whole batches only).
func churn(batch int, d time.Duration) (int, time.Duration) {
	var wg sync.WaitGroup
	t0 := time.Now()
	n := 0
	for {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go wg.Done()
		}
		wg.Wait()
		n += batch
		if el := time.Since(t0); el >= d {
			return n, el
		}
	}
}
