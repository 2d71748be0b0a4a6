// agentprog: a Go process for the node agent's tests, with a goroutine count
// that holds still so it can be compared with the agent's metric.
//
//	agentprog N        starts N goroutines blocked on a channel, allocates a
//	                   little now and then, prints "agentprog: pid P goroutines G"
//	                   (G = runtime.NumGoroutine()) and runs until killed
//	agentprog N idle   the same without allocating (a process at rest)
//	agentprog exit MS  lives MS milliseconds, then exits (the churn test starts a thousand)
//	agentprog exec     prints "agentprog: ready", waits for a line on stdin, then execs
//	                   /bin/sleep 3 (the process becomes another program mid-trace)
//	agentprog churn N  prints "agentprog: ready", waits for a line on stdin, creates N
//	                   goroutines that exit at once (1000 at a time), prints "agentprog:
//	                   churned N", and waits for stdin to close: exactly 2N goroutine events
//	agentprog grow N [MS]  a leak: after MS milliseconds (default 0) prints "agentprog: pid P
//	                   growing", then every 500 ms starts N goroutines that block forever on
//	                   one channel, from one go statement (main.leakOne), until killed
//	agentprog burst N  bursts that return: prints "agentprog: pid P bursting", then every 2 s
//	                   starts N goroutines that all end 1 s later, until killed
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var sink [][]byte

func main() {
	if len(os.Args) > 2 && os.Args[1] == "exit" {
		ms, _ := strconv.Atoi(os.Args[2])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "exec" {
		fmt.Println("agentprog: ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		syscall.Exec("/bin/sleep", []string{"sleep", "3"}, os.Environ())
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "churn" {
		churn(os.Args[2])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "grow" {
		if len(os.Args) > 3 {
			ms, _ := strconv.Atoi(os.Args[3])
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		grow(os.Args[2])
		return
	}
	if len(os.Args) > 2 && os.Args[1] == "burst" {
		burst(os.Args[2])
		return
	}
	n := 10
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	block := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() { <-block }()
	}
	// Let the runtime's own goroutines settle before counting.
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("agentprog: pid %d goroutines %d\n", os.Getpid(), runtime.NumGoroutine())
	if len(os.Args) > 2 && os.Args[2] == "idle" {
		for { // a sleeping timer, not select{}: the runtime would call that a deadlock
			time.Sleep(time.Hour)
		}
	}
	for {
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) > 64 {
			sink = sink[:0]
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func churn(arg string) {
	n, _ := strconv.Atoi(arg)
	runtime.GC() // the GC's worker goroutines exist before the count starts
	in := bufio.NewReader(os.Stdin)
	fmt.Println("agentprog: ready")
	in.ReadString('\n')
	var wg sync.WaitGroup
	for done := 0; done < n; {
		batch := 1000
		if n-done < batch {
			batch = n - done
		}
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go wg.Done()
		}
		wg.Wait()
		done += batch
	}
	fmt.Printf("agentprog: churned %d\n", n)
	in.ReadString('\n')
}

var leaked = make(chan struct{}) // never sent to, never closed

//go:noinline
func leakOne() { go func() { <-leaked }() }

func grow(arg string) {
	n, _ := strconv.Atoi(arg)
	fmt.Printf("agentprog: pid %d growing\n", os.Getpid())
	for {
		for i := 0; i < n; i++ {
			leakOne()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func burst(arg string) {
	n, _ := strconv.Atoi(arg)
	fmt.Printf("agentprog: pid %d bursting\n", os.Getpid())
	for {
		done := make(chan struct{})
		for i := 0; i < n; i++ {
			go func() { <-done }()
		}
		time.Sleep(time.Second)
		close(done)
		time.Sleep(time.Second)
	}
}
