package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Every part returns a checksum that depends only on what the part computed:
// never on timing, scheduling order, map iteration order or addresses. Parts
// that combine results from several goroutines add mixed values (addition
// commutes); parts that run in sequence chain them through hash.

func mix(x uint64) uint64 { // splitmix64's finalizer
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

type hash uint64

func (h *hash) u(v uint64) { *h = hash(mix(uint64(*h)*31 + v)) }

func (h *hash) str(s string) {
	for i := 0; i < len(s); i++ {
		h.u(uint64(s[i]))
	}
	h.u(uint64(len(s)))
}

func (h hash) sum() uint64 { return uint64(h) }

// The sinks keep values on the heap that escape analysis would otherwise
// leave on the stack (and give a faulting expression a use).
var (
	sinkBytes atomic.Value // []byte
	sinkInt   atomic.Int64
)

type node struct {
	next *node
	v    int32
}

// allocWork: maps grown and shrunk, slices grown by append, strings built
// and split, 1 MiB objects (large spans), and tiny objects (the 16-byte tiny
// allocator) and small linked nodes: about 150k heap allocations.
func allocWork() uint64 {
	var h hash
	m := make(map[string][]int)
	for i := 0; i < 20000; i++ {
		k := "k" + strconv.Itoa(i*7919%5003)
		m[k] = append(m[k], i)
	}
	for k, v := range m {
		if len(v)%2 == 0 {
			delete(m, k)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.str(k)
		for _, v := range m[k] {
			h.u(uint64(v))
		}
	}
	ptrs := make(map[int]*node, 16)
	for i := 0; i < 5000; i++ {
		ptrs[i%1021] = &node{ptrs[(i+1)%1021], int32(i)}
	}
	for i := 0; i < 1021; i++ {
		h.u(uint64(ptrs[i].v))
	}

	var s []int
	for i := 0; i < 200000; i++ {
		s = append(s, (i*2654435761)%1000003)
	}
	c := make([]int, len(s))
	copy(c, s)
	sort.Ints(c)
	for i := 0; i < len(c); i += 997 {
		h.u(uint64(c[i]))
	}

	parts := make([]string, 0, 3000)
	for i := 0; i < 3000; i++ {
		parts = append(parts, fmt.Sprintf("%d:%x", i, i*i))
	}
	joined := strings.Join(parts, ",")
	split := strings.Split(joined, ",")
	h.u(uint64(len(joined)))
	h.str(split[len(split)/2])
	h.str(strings.ToUpper(strings.Repeat("ab", 1000))[990:1010])
	var sb strings.Builder
	for i := 0; i < 2000; i++ {
		sb.WriteString(strconv.Itoa(i))
	}
	h.str(sb.String()[3000:3100])

	var keep [][]byte
	for i := 0; i < 24; i++ {
		big := make([]byte, 1<<20)
		for j := 0; j < len(big); j += 4096 {
			big[j] = byte(i + j/4096)
		}
		if i%6 == 0 {
			keep = append(keep, big)
		}
		sinkBytes.Store(big)
		h.u(uint64(big[4096*(i+1)]))
	}

	tiny := make([]*int64, 0, 1000)
	for i := 0; i < 100000; i++ {
		p := new(int64)
		*p = int64(i)
		if i%100 == 0 {
			tiny = append(tiny, p)
		}
	}
	var head *node
	for i := 0; i < 50000; i++ {
		head = &node{head, int32(i)}
	}
	for n := head; n != nil; n = n.next {
		if n.v%1000 == 0 {
			h.u(uint64(n.v))
		}
	}
	for _, p := range tiny {
		h.u(uint64(*p))
	}
	for _, k := range keep {
		h.u(uint64(k[8192]))
	}
	return h.sum()
}

func collatz(n int) int {
	steps := 0
	for n != 1 {
		if n%2 == 0 {
			n /= 2
		} else {
			n = 3*n + 1
		}
		steps++
	}
	return steps
}

func generate(n int) <-chan uint64 {
	out := make(chan uint64)
	go func() {
		for i := 1; i <= n; i++ {
			out <- uint64(i)
		}
		close(out)
	}()
	return out
}

func square(in <-chan uint64) <-chan uint64 {
	out := make(chan uint64)
	go func() {
		for v := range in {
			out <- v * v
		}
		close(out)
	}()
	return out
}

func merge(ins ...<-chan uint64) <-chan uint64 {
	out := make(chan uint64, 8)
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func(in <-chan uint64) {
			defer wg.Done()
			for v := range in {
				out <- v
			}
		}(in)
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// goroutineWork: a worker pool, a fan-out/fan-in pipeline, select over
// producers and timers, Mutex and RWMutex contention, 10,000 short-lived
// goroutines and an unbuffered ping-pong: about 10,000 goroutines created.
func goroutineWork() uint64 {
	var total uint64

	jobs := make(chan int, 16)
	results := make(chan uint64, 16)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				results <- mix(uint64(collatz(j)))
			}
		}()
	}
	go func() {
		for i := 1; i <= 10000; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		total += r
	}

	src := generate(3000)
	outs := make([]<-chan uint64, 4)
	for i := range outs {
		outs[i] = square(src)
	}
	for v := range merge(outs...) {
		total += mix(v)
	}

	a, b := make(chan int), make(chan int)
	go func() {
		for i := 0; i < 1000; i++ {
			a <- i
		}
	}()
	go func() {
		for i := 0; i < 1000; i++ {
			b <- i
		}
	}()
	never := make(chan int)
	fired := 0
	for na, nb := 0, 0; na < 1000 || nb < 1000; {
		select {
		case v := <-a:
			total += mix(uint64(v))
			na++
		case v := <-b:
			total += mix(uint64(v) * 3)
			nb++
		case <-never:
		}
	}
	for i := 0; i < 20; i++ {
		select {
		case <-time.After(time.Millisecond):
			fired++
		case <-never:
		}
	}
	total += mix(uint64(fired))

	var mu sync.Mutex
	var rw sync.RWMutex
	counts := map[int]int{}
	shared := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg2.Add(1)
		go func(g int) {
			defer wg2.Done()
			for i := 0; i < 500; i++ {
				mu.Lock()
				counts[i%37] += g
				mu.Unlock()
				if i%50 == 0 {
					rw.Lock()
					shared += g
					rw.Unlock()
				} else if i%10 == 0 {
					rw.RLock()
					_ = shared
					rw.RUnlock()
				}
			}
		}(g)
	}
	wg2.Wait()
	for k := 0; k < 37; k++ {
		total += mix(uint64(k)<<32 | uint64(counts[k]))
	}
	total += mix(uint64(shared))

	res := make(chan uint64, 64)
	var wg3 sync.WaitGroup
	for i := 0; i < 10000; i++ {
		wg3.Add(1)
		go func(i int) {
			defer wg3.Done()
			res <- mix(uint64(i) * 7)
		}(i)
	}
	go func() {
		wg3.Wait()
		close(res)
	}()
	for v := range res {
		total += v
	}

	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 2000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	total += mix(uint64(v))
	return total
}

var zero int // a divisor the compiler cannot see is 0

func deepPanic(n int) {
	if n == 0 {
		panic(fmt.Sprintf("deep panic at depth %d", n))
	}
	deepPanic(n - 1)
}

// tryPanic panics in one of six ways and recovers: a panic with an error, an
// index out of range, a nil map write, an integer division by zero (SIGFPE
// turned into a panic by the runtime's signal handler), a nil dereference
// (SIGSEGV, likewise), and a panic 50 frames down.
func tryPanic(i int) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	switch i % 6 {
	case 0:
		panic(fmt.Errorf("error %d", i))
	case 1:
		s := make([]int, i%7)
		idx := i % 7
		_ = s[idx]
	case 2:
		var m map[string]int
		m["x"] = i
	case 3:
		sinkInt.Store(int64(i / zero))
	case 4:
		var p *node
		sinkInt.Store(int64(p.v))
	case 5:
		deepPanic(50)
	}
	return ""
}

func nestedPanic() (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	defer func() { panic("second panic, raised while the first unwinds") }()
	panic("first panic")
}

// panicWork: 20,000 recovered panics on the calling goroutine, 200 in
// goroutines of their own, and a panic raised by a deferred call while
// another panic unwinds.
func panicWork() (int, uint64) {
	var h hash
	n := 0
	for i := 0; i < 20000; i++ {
		if msg := tryPanic(i); msg != "" {
			n++
			h.str(msg)
		}
	}
	msgs := make([]string, 200)
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msgs[i] = tryPanic(i)
		}(i)
	}
	wg.Wait()
	for _, m := range msgs {
		h.str(m)
	}
	h.str(nestedPanic())
	return n, h.sum()
}

// deep recurses n frames of about 250 bytes each.
//
//go:noinline
func deep(n int, acc uint64) uint64 {
	var pad [24]uint64
	pad[n%24] = acc ^ uint64(n)
	if n == 0 {
		return mix(acc)
	}
	r := deep(n-1, mix(acc+pad[n%24]))
	return r ^ pad[(n+7)%24]
}

// stackWork grows stacks to ~8 MB: three fresh goroutines (each stack starts
// at 8 KB and is copied at every doubling) and the calling goroutine.
func stackWork() uint64 {
	var total uint64
	var wg sync.WaitGroup
	out := make([]uint64, 3)
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out[i] = deep(30000, uint64(i))
		}(i)
	}
	wg.Wait()
	for _, v := range out {
		total += v
	}
	total += deep(30000, 99)
	return total
}

type finObj struct {
	next *finObj
	pad  [4]uint64
}

// gcWork changes GOGC twice while allocating 35 MB of garbage, forces
// collections, returns memory to the OS, and waits for 100 finalizers.
// Returns the GOGC it found (restored at the end), the finalizers that ran,
// and a checksum of the objects kept live across the collections.
func gcWork() (int, int, uint64) {
	var h hash
	old := debug.SetGCPercent(10)
	var live [][]byte
	for i := 0; i < 400; i++ {
		b := make([]byte, 64<<10)
		b[i%len(b)] = byte(i)
		if i%20 == 0 {
			live = append(live, b)
		}
		sinkBytes.Store(b)
	}
	runtime.GC()
	debug.SetGCPercent(200)
	for i := 0; i < 10000; i++ {
		sinkBytes.Store(make([]byte, 1000+i%3000))
	}
	runtime.GC()
	debug.FreeOSMemory()
	debug.SetGCPercent(old)

	var finalized int32
	for i := 0; i < 100; i++ {
		o := &finObj{}
		o.pad[0] = uint64(i)
		runtime.SetFinalizer(o, func(*finObj) { atomic.AddInt32(&finalized, 1) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for atomic.LoadInt32(&finalized) < 100 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	for i, b := range live {
		h.u(uint64(b[(i*20)%len(b)]))
	}
	return old, int(atomic.LoadInt32(&finalized)), h.sum()
}

// usr1 is registered once for the program's life: a SIGUSR1 that arrived
// late must be counted, never kill the program with the default action.
var usr1 = func() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	return c
}()

// signalWork sends the process SIGUSR1 200 times, waiting for each to arrive
// through os/signal (up to 5 s each: a lost signal shows as received < sent).
func signalWork() (int, int) {
	for len(usr1) > 0 {
		<-usr1
	}
	sent, got := 0, 0
	for i := 0; i < 200; i++ {
		if syscall.Kill(os.Getpid(), syscall.SIGUSR1) == nil {
			sent++
		}
		select {
		case <-usr1:
			got++
		case <-time.After(5 * time.Second):
		}
	}
	return sent, got
}

// fib returns the first n values of the Fibonacci-like sequence seeded k, 1.
func fib(k, n int) []uint64 {
	out := make([]uint64, 0, n)
	a, b := uint64(k), uint64(1)
	for i := 0; i < n; i++ {
		out = append(out, a)
		a, b = b, a+b
	}
	return out
}

// cgoWork chains 200,000 calls of cmix (C in cgo builds, Go otherwise) on
// the calling goroutine and 50,000 on each of four goroutines.
func cgoWork() uint64 {
	chain := func(seed uint64, n int) uint64 {
		x := seed
		for i := 0; i < n; i++ {
			x = cmix(x, uint64(i))
		}
		return x
	}
	total := chain(1, 200000)
	out := make([]uint64, 4)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out[i] = chain(uint64(i+2), 50000)
		}(i)
	}
	wg.Wait()
	for _, v := range out {
		total += mix(v)
	}
	return total
}
