// agentprog: a Go process for the node agent's tests, with a goroutine count
// that holds still so it can be compared with the agent's metric.
//
//	agentprog N        starts N goroutines blocked on a channel, allocates a
//	                   little now and then, prints "agentprog: pid P goroutines G"
//	                   (G = runtime.NumGoroutine()) and runs until killed
//	agentprog exit MS  lives MS milliseconds, then exits (the churn test starts a thousand)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

var sink [][]byte

func main() {
	if len(os.Args) > 2 && os.Args[1] == "exit" {
		ms, _ := strconv.Atoi(os.Args[2])
		time.Sleep(time.Duration(ms) * time.Millisecond)
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
	for {
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) > 64 {
			sink = sink[:0]
		}
		time.Sleep(20 * time.Millisecond)
	}
}
