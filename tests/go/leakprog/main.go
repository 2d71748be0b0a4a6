// Command leakprog parks goroutines whose fate is known by construction, for
// checking goscope's leak proof against the runtime's own goroutineleak
// profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile, 1.27) and, on
// older releases, against the sets below.
//
// Leaked (nothing that can run holds what they wait on):
//
//	main.leakChanRecv.func1   5  receive on a channel only they hold
//	main.leakChanSend.func1   3  send on a channel only they hold
//	main.leakSelect.func1     2  select on two channels only they hold
//	main.leakNilChan.func1    2  receive on a nil channel
//	main.leakMutex.func1      3  Lock of a mutex taken forever, held only by them
//	main.leakWaitGroup.func1  2  Wait on a WaitGroup never done, held only by them
//	main.leakCond.func1       2  Wait on a sync.Cond only they hold
//	main.leakChain.func1      1  receive on a channel held only by func2...
//	main.leakChain.func2      1  ...which itself waits on a channel nobody holds
//
// Alive, though parked the same way:
//
//	main.workerPool.func1     4  receive on a channel a global holds
//	main.heldByLive.func1     1  sleeps, holding the channel func2 waits on
//	main.heldByLive.func2     1
//	main.heldByChain.func1    1  waits on a global channel, holding func2's
//	main.heldByChain.func2    1
//	main.globalMutex.func1    1  Lock of a global mutex taken forever
//	main.heldByStackObject.func1 1 sleeps, holding in an address-taken local
//	main.heldByStackObject.func2 1 the channel this one waits on
//	main.heldByFinalizer.func1 1 receive on a channel only an unreachable object
//	                             with a finalizer holds (the finalizer may send)
//
// It serves net/http/pprof on 127.0.0.1 and prints "pprof http://ADDR", then
// "ready" once every goroutine above is parked. It exits when standard input
// closes or says "exit"; "exec PATH" replaces it with PATH (same pid), for
// tests of a reader that finds another program where it looked.
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	finalized chan int // set by the finalizer, when it runs
	jobs      = make(chan int)
	globalV   = make(chan int)
	globalMu  sync.Mutex
)

// guarded keeps its mutex in an object of its own (a bare Mutex would share a
// 16-byte tiny-allocator block with whatever else is small).
type guarded struct {
	mu   sync.Mutex
	name string
	pad  [48]byte
}

type waitGroup struct {
	wg   sync.WaitGroup
	name string
	pad  [48]byte
}

func leakChanRecv() {
	ch := make(chan int)
	for i := 0; i < 5; i++ {
		go func() { <-ch }()
	}
}

func leakChanSend() {
	ch := make(chan int)
	for i := 0; i < 3; i++ {
		go func() { ch <- 1 }()
	}
}

func leakSelect() {
	a, b := make(chan int), make(chan string)
	for i := 0; i < 2; i++ {
		go func() {
			select {
			case <-a:
			case <-b:
			}
		}()
	}
}

func leakNilChan() {
	var ch chan int
	for i := 0; i < 2; i++ {
		go func() { <-ch }()
	}
}

func leakMutex() {
	g := &guarded{name: "leak"}
	g.mu.Lock()
	for i := 0; i < 3; i++ {
		go func() {
			g.mu.Lock()
			g.name = "never"
		}()
	}
}

func leakWaitGroup() {
	w := &waitGroup{name: "leak"}
	w.wg.Add(1)
	for i := 0; i < 2; i++ {
		go func() {
			w.wg.Wait()
			w.name = "never"
		}()
	}
}

func leakCond() {
	c := sync.NewCond(&sync.Mutex{})
	for i := 0; i < 2; i++ {
		go func() {
			c.L.Lock()
			c.Wait()
			c.L.Unlock()
		}()
	}
}

func leakChain() {
	x := make(chan int)
	go func() { <-x }()
	go func() {
		y := make(chan int)
		<-y
		x <- 1 // holds x, but can never get here
	}()
}

func workerPool() {
	for i := 0; i < 4; i++ {
		go func() {
			for range jobs {
			}
		}()
	}
}

func heldByLive() {
	z := make(chan int)
	go func() {
		time.Sleep(24 * time.Hour)
		z <- 1
	}()
	go func() { <-z }()
}

func heldByChain() {
	w := make(chan int)
	go func() {
		<-globalV
		w <- 1
	}()
	go func() { <-w }()
}

type pair struct {
	ch   chan int
	name string
}

//go:noinline
func sendVia(p *pair) { p.ch <- 1 }

func heldByStackObject() {
	z := make(chan int)
	go func() {
		p := pair{ch: z, name: "on the stack"}
		pp := &p // address taken, does not escape: a stack object
		time.Sleep(24 * time.Hour)
		sendVia(pp)
	}()
	go func() { <-z }()
}

func globalMutex() {
	globalMu.Lock()
	go func() {
		globalMu.Lock()
		globalMu.Unlock()
	}()
}

type holder struct {
	ch  chan int
	pad [64]byte
}

// Made after the last collection, so that the finalizer has not run yet: the
// holder is unreachable, but its finalizer keeps what it holds alive.
func heldByFinalizer() {
	h := &holder{ch: make(chan int)}
	runtime.SetFinalizer(h, func(h *holder) { finalized = h.ch })
	ch := h.ch
	go func() { <-ch }()
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "leakprog:", err)
		os.Exit(1)
	}
	go http.Serve(ln, nil)
	fmt.Printf("pprof http://%s\n", ln.Addr())

	// Set up on a goroutine that then exits, so that no stale word of the
	// setup is left on a stack that lives on.
	before := runtime.NumGoroutine()
	done := make(chan struct{})
	go func() {
		leakChanRecv()
		leakChanSend()
		leakSelect()
		leakNilChan()
		leakMutex()
		leakWaitGroup()
		leakCond()
		leakChain()
		workerPool()
		heldByLive()
		heldByChain()
		heldByStackObject()
		globalMutex()
		close(done)
	}()
	<-done
	const parked = 5 + 3 + 2 + 2 + 3 + 2 + 2 + 2 + 4 + 2 + 2 + 2 + 1
	for runtime.NumGoroutine() != before+parked {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let every one of them park
	runtime.GC()
	done = make(chan struct{})
	go func() {
		heldByFinalizer()
		close(done)
	}()
	<-done
	for runtime.NumGoroutine() != before+parked+1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	fmt.Println("ready")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "exit" {
			return
		}
		if strings.HasPrefix(in.Text(), "exec ") {
			path := strings.TrimPrefix(in.Text(), "exec ")
			err := syscall.Exec(path, []string{path}, os.Environ())
			fmt.Fprintln(os.Stderr, "leakprog: exec:", err)
		}
	}
}
