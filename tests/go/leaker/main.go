// Command leaker creates a known goroutine population only when told to
// (SIGUSR1), so a tracer attached beforehand must count it exactly:
//
//	-exit N   goroutines that do a little work and return
//	-leak M   goroutines that block forever in chan receive, from leakSite
//	iter.Pull coroutines (Go 1.23+, -pulls K): each starts a goroutine and ends it
//
// It prints "ready", then after SIGUSR1 "done checksum=X created=N" and waits
// for SIGTERM. The checksum depends only on the flags: a tracer must not change it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
)

var (
	exitN = flag.Int("exit", 200, "goroutines that exit")
	leakN = flag.Int("leak", 37, "goroutines that leak")
	pulls = flag.Int("pulls", 5, "iter.Pull coroutines (Go 1.23+ only)")
)

var forever = make(chan int) // never sent to, never closed

//go:noinline
func leakSite(i int) { go waitForever(i) }

//go:noinline
func waitForever(i int) { <-forever }

func work(i int, out *uint64, wg *sync.WaitGroup) {
	defer wg.Done()
	h := uint64(i) * 0x9E3779B97F4A7C15
	for k := 0; k < 1000; k++ {
		h ^= h >> 31
		h *= 0xBF58476D1CE4E5B9
	}
	*out = h
}

func main() {
	flag.Parse()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM)
	runtime.GC() // start the GC's own worker goroutines now, not in the traced window
	fmt.Println("ready")
	if s := <-sigs; s == syscall.SIGTERM {
		return
	}
	results := make([]uint64, *exitN)
	var wg sync.WaitGroup
	for i := 0; i < *exitN; i++ {
		wg.Add(1)
		go work(i, &results[i], &wg)
	}
	wg.Wait()
	for i := 0; i < *leakN; i++ {
		leakSite(i)
	}
	sum := uint64(0)
	for _, r := range results {
		sum += r
	}
	sum += pullAll(*pulls)
	created := *exitN + *leakN + pullGoroutines(*pulls)
	fmt.Printf("done checksum=%x created=%d\n", sum, created)
	<-sigs
}
