// Command goroutines creates known goroutine populations, waits until every
// one of them is parked, prints "ready N" (N = runtime.NumGoroutine()) and
// then blocks forever, so that a snapshot of its goroutines can be checked
// against exact expectations.
//
// Populations (count flag, blocking function, creating function, wait reason):
//
//	-recv   main.blockRecv    main.startRecv    chan receive
//	-send   main.blockSend    main.startSend    chan send
//	-select main.blockSelect  main.startSelect  select
//	-mutex  main.blockMutex   main.startMutex   sync.Mutex.Lock (go1.19: semacquire)
//	-wg     main.blockWG      main.startWG      semacquire (go1.24+: sync.WaitGroup.Wait)
//	-sleep  main.sleeper      main.startSleep   sleep
//	-nil    main.blockNil     main.startNil     chan receive (nil chan)
//	-wrap   main.blockWrapped main.startWrapped chan send (inlined into the go statement's
//	                                            wrapper from go1.22: Go's dumps hide the wrapper)
//	-many   main.blockMany    main.startMany    chan receive (for scale measurements)
//	-spin   main.spinner      main.startSpin    never parks: running or runnable
//
// and always: goroutine 1 in main.main [select (no cases)], main.dumpOnSignal
// created by main.main [chan receive] (waits for SIGUSR1), and os/signal's
// loop goroutine (created by signal.Notify, in a syscall). Before the
// populations start, -churn short-lived goroutines (main.churnWorker, created
// by main.churn) run to completion, leaving dead gs on the runtime's free
// lists; -churn-forever keeps starting such goroutines (from main.churner)
// after ready.
//
// Just before ready it runs a garbage collection (unless -gc=false), which is
// when the runtime records g.waitsince for goroutines already parked.
//
// With -dump PREFIX it writes its own goroutine profile as PREFIX.debug2.txt
// (debug=2), PREFIX.debug1.txt (debug=1) and PREFIX.pb.gz (protobuf) just
// before printing ready, and again on every SIGUSR1 (then prints "dumped").
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	nRecv        = flag.Int("recv", 3, "goroutines blocked in chan receive")
	nSend        = flag.Int("send", 4, "goroutines blocked in chan send")
	nSelect      = flag.Int("select", 2, "goroutines blocked in select")
	nMutex       = flag.Int("mutex", 5, "goroutines blocked in sync.Mutex.Lock")
	nWG          = flag.Int("wg", 2, "goroutines blocked in sync.WaitGroup.Wait")
	nSleep       = flag.Int("sleep", 3, "goroutines in time.Sleep(1h)")
	nNil         = flag.Int("nil", 2, "goroutines blocked receiving from a nil channel")
	nWrap        = flag.Int("wrap", 2, "goroutines blocked in chan send in an inlined function")
	nMany        = flag.Int("many", 0, "extra goroutines blocked in chan receive (scale)")
	nSpin        = flag.Int("spin", 0, "goroutines spinning on a CPU forever")
	nChurn       = flag.Int("churn", 20000, "short-lived goroutines run to completion before ready")
	churnForever = flag.Bool("churn-forever", false, "keep starting short-lived goroutines after ready")
	dump         = flag.String("dump", "", "write goroutine profiles to PREFIX.{debug2.txt,debug1.txt,pb.gz}")
	gc           = flag.Bool("gc", true, "collect garbage once all are parked: the runtime then records when each parked goroutine started waiting (g.waitsince)")
)

var (
	recvCh   = make(chan int)
	sendCh   = make(chan int)
	selectA  = make(chan int)
	selectB  = make(chan int)
	manyCh   = make(chan int)
	wrapCh   = make(chan int)
	mu       sync.Mutex
	wg       sync.WaitGroup
	spinSink uint64
)

//go:noinline
func blockRecv() { <-recvCh }

//go:noinline
func blockSend() { sendCh <- 1 }

//go:noinline
func blockSelect() {
	select {
	case <-selectA:
	case selectB <- 1:
	}
}

//go:noinline
func blockMutex() {
	mu.Lock()
	mu.Unlock()
}

//go:noinline
func blockWG() { wg.Wait() }

//go:noinline
func sleeper() { time.Sleep(time.Hour) }

//go:noinline
func blockNil() {
	var c chan int
	<-c
}

// blockWrapped is inlined: from go1.22, `go blockWrapped(c, i)` runs it
// inside a compiler-generated wrapper (main.startWrapped.gowrap1).
func blockWrapped(c chan int, n int) { c <- n }

//go:noinline
func blockMany() { <-manyCh }

//go:noinline
func spinner() {
	for i := uint64(0); ; i++ {
		spinSink += i
	}
}

//go:noinline
func startRecv(n int) {
	for i := 0; i < n; i++ {
		go blockRecv()
	}
}

//go:noinline
func startSend(n int) {
	for i := 0; i < n; i++ {
		go blockSend()
	}
}

//go:noinline
func startSelect(n int) {
	for i := 0; i < n; i++ {
		go blockSelect()
	}
}

//go:noinline
func startMutex(n int) {
	for i := 0; i < n; i++ {
		go blockMutex()
	}
}

//go:noinline
func startWG(n int) {
	for i := 0; i < n; i++ {
		go blockWG()
	}
}

//go:noinline
func startSleep(n int) {
	for i := 0; i < n; i++ {
		go sleeper()
	}
}

//go:noinline
func startNil(n int) {
	for i := 0; i < n; i++ {
		go blockNil()
	}
}

//go:noinline
func startWrapped(n int) {
	for i := 0; i < n; i++ {
		go blockWrapped(wrapCh, i)
	}
}

//go:noinline
func startMany(n int) {
	for i := 0; i < n; i++ {
		go blockMany()
	}
}

//go:noinline
func startSpin(n int) {
	for i := 0; i < n; i++ {
		go spinner()
	}
}

var churnSink [64]uint64

//go:noinline
func churnWorker(i int, done *sync.WaitGroup) {
	churnSink[i%64] += uint64(i)
	done.Done()
}

// churn runs n short-lived goroutines to completion, in batches.
//
//go:noinline
func churn(n int) {
	for n > 0 {
		batch := 1000
		if n < batch {
			batch = n
		}
		var done sync.WaitGroup
		done.Add(batch)
		for i := 0; i < batch; i++ {
			go churnWorker(i, &done)
		}
		done.Wait()
		n -= batch
	}
}

//go:noinline
func churner() {
	for {
		churn(100)
		time.Sleep(time.Millisecond)
	}
}

func writeFile(path string, write func(f *os.File) error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err == nil {
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "goroutines: dump:", err)
		os.Exit(1)
	}
}

func writeDumps(prefix string) {
	p := pprof.Lookup("goroutine")
	writeFile(prefix+".debug2.txt", func(f *os.File) error { return p.WriteTo(f, 2) })
	writeFile(prefix+".debug1.txt", func(f *os.File) error { return p.WriteTo(f, 1) })
	writeFile(prefix+".pb.gz", func(f *os.File) error { return p.WriteTo(f, 0) })
}

//go:noinline
func dumpOnSignal(c chan os.Signal) {
	for range c {
		if *dump != "" {
			writeDumps(*dump)
		}
		fmt.Println("dumped")
	}
}

// parked counts goroutines other than the caller that are neither running nor
// runnable and whose stack includes one of the given functions.
func parked(funcs []string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for i, block := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		sc := bufio.NewScanner(bytes.NewReader(block))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		if !sc.Scan() {
			continue
		}
		header := sc.Text()
		if strings.Contains(header, "[running") || strings.Contains(header, "[runnable") {
			continue
		}
		for sc.Scan() {
			line := sc.Text()
			found := false
			for _, f := range funcs {
				if strings.HasPrefix(line, f+"(") {
					found = true
					break
				}
			}
			if found {
				count++
				break
			}
		}
	}
	return count
}

// quiesce waits until only n goroutines are left: a churn worker that has
// called Done may still be on its way out.
func quiesce(n int) {
	for runtime.NumGoroutine() > n {
		time.Sleep(100 * time.Microsecond)
	}
}

func main() {
	flag.Parse()
	base := runtime.NumGoroutine()
	churn(*nChurn)
	quiesce(base)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go dumpOnSignal(sig)

	mu.Lock() // held forever: blockMutex goroutines wait
	wg.Add(1) // never done: blockWG goroutines wait
	startRecv(*nRecv)
	startSend(*nSend)
	startSelect(*nSelect)
	startMutex(*nMutex)
	startWG(*nWG)
	startSleep(*nSleep)
	startNil(*nNil)
	startWrapped(*nWrap)
	startMany(*nMany)
	startSpin(*nSpin)

	want := *nRecv + *nSend + *nSelect + *nMutex + *nWG + *nSleep + *nNil + *nWrap + *nMany
	funcs := []string{"main.blockRecv", "main.blockSend", "main.blockSelect", "main.blockMutex",
		"main.blockWG", "main.sleeper", "main.blockNil", "main.blockWrapped", "main.blockMany"}
	deadline := time.Now().Add(30 * time.Second)
	for parked(funcs) != want || parked([]string{"main.dumpOnSignal"}) != 1 ||
		parked([]string{"os/signal.signal_recv"}) != 1 {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "goroutines: populations did not park within 30s")
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
	if *gc {
		runtime.GC()
	}
	if *churnForever {
		go churner()
	}
	if *dump != "" {
		writeDumps(*dump)
	}
	fmt.Printf("ready %d\n", runtime.NumGoroutine())
	os.Stdout.Sync()
	select {}
}
