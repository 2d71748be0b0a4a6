// Command statsprog changes its heap and goroutines in known steps and, after
// each, prints its own runtime.ReadMemStats, runtime.NumGoroutine and thread
// count, for checking goscope stats against the runtime's own account.
//
// A step runs for each line read on standard input ("report" instead reports
// the current step again):
//
//	step 1: keep 4096 objects of 1 KiB and 64 of 64 KiB, park 300 goroutines
//	step 2: drop half the objects, park 500 more goroutines
//	step 3: drop everything, let every parked goroutine return
//
// and then more of step 1's shape. After a step it collects garbage, returns
// free memory to the OS (so neither sweeping nor the scavenger changes a
// figure afterwards), waits until nothing allocates, reads its statistics
// and prints one line
//
//	stats step=N Alloc=... TotalAlloc=... ... Threads=... [GoroutinesCreated=...] Pauses=p1,p2,p3
//
// (GoroutinesCreated: runtime/metrics' /sched/goroutines-created:goroutines,
// from Go 1.26; absent before.)
//
// formatted without allocating, so what it printed is still true while it
// waits for the next line.
package main

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

var (
	small [][]byte
	large [][]byte
	parks []chan struct{}
	line  = make([]byte, 0, 4096)
	ms    runtime.MemStats
	// Allocated once: reading it then allocates nothing.
	created = []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
)

func park(n int) {
	for i := 0; i < n; i++ {
		c := make(chan struct{})
		parks = append(parks, c)
		go func() { <-c }()
	}
}

func step(n int) {
	switch n {
	case 1:
		for i := 0; i < 4096; i++ {
			small = append(small, make([]byte, 1024))
		}
		for i := 0; i < 64; i++ {
			large = append(large, make([]byte, 64<<10))
		}
		park(300)
	case 2:
		// New arrays: the old ones would keep every element reachable.
		small = append([][]byte(nil), small[:len(small)/2]...)
		large = append([][]byte(nil), large[:len(large)/2]...)
		park(500)
	case 3:
		small, large = nil, nil
		for _, c := range parks {
			close(c)
		}
		parks = nil
		for runtime.NumGoroutine() > 1 {
			runtime.Gosched()
		}
	default:
		for i := 0; i < 1000*n; i++ {
			small = append(small, make([]byte, 512))
		}
		park(100 * n)
	}
}

func field(name string, v uint64) {
	line = append(line, ' ')
	line = append(line, name...)
	line = append(line, '=')
	line = strconv.AppendUint(line, v, 10)
}

// settle collects garbage, returns free memory to the OS and waits until
// nothing allocates any more (a finalizer run after a collection allocates
// its frame the first time).
func settle() {
	for {
		runtime.GC()
		debug.FreeOSMemory()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		time.Sleep(20 * time.Millisecond)
		runtime.ReadMemStats(&ms)
		if ms.Mallocs == before {
			return
		}
	}
}

func report(n int) {
	settle()
	threads, _ := runtime.ThreadCreateProfile(nil)
	goroutines := runtime.NumGoroutine()
	runtime.ReadMemStats(&ms)
	line = append(line[:0], "stats"...)
	field("step", uint64(n))
	field("Alloc", ms.Alloc)
	field("TotalAlloc", ms.TotalAlloc)
	field("Sys", ms.Sys)
	field("Mallocs", ms.Mallocs)
	field("Frees", ms.Frees)
	field("HeapAlloc", ms.HeapAlloc)
	field("HeapSys", ms.HeapSys)
	field("HeapIdle", ms.HeapIdle)
	field("HeapInuse", ms.HeapInuse)
	field("HeapReleased", ms.HeapReleased)
	field("HeapObjects", ms.HeapObjects)
	field("StackInuse", ms.StackInuse)
	field("StackSys", ms.StackSys)
	field("MSpanSys", ms.MSpanSys)
	field("MCacheSys", ms.MCacheSys)
	field("BuckHashSys", ms.BuckHashSys)
	field("GCSys", ms.GCSys)
	field("OtherSys", ms.OtherSys)
	field("NextGC", ms.NextGC)
	field("LastGC", ms.LastGC)
	field("PauseTotalNs", ms.PauseTotalNs)
	field("NumGC", uint64(ms.NumGC))
	field("NumForcedGC", uint64(ms.NumForcedGC))
	field("NumGoroutine", uint64(goroutines))
	field("Threads", uint64(threads))
	metrics.Read(created)
	if created[0].Value.Kind() == metrics.KindUint64 {
		field("GoroutinesCreated", created[0].Value.Uint64())
	}
	line = append(line, " GCCPUFraction="...)
	line = strconv.AppendFloat(line, ms.GCCPUFraction, 'g', -1, 64)
	line = append(line, " Pauses="...)
	for i := uint32(0); i < 3 && i < ms.NumGC; i++ {
		if i > 0 {
			line = append(line, ',')
		}
		line = strconv.AppendUint(line, ms.PauseNs[(ms.NumGC-1-i)%256], 10)
	}
	line = append(line, '\n')
	os.Stdout.Write(line)
}

func main() {
	// Standard input through the netpoller: a blocking read would hand the P
	// to a new thread (allocating its M) after the report was printed.
	if err := syscall.SetNonblock(0, true); err != nil {
		panic(err)
	}
	in := bufio.NewReader(os.NewFile(0, "stdin"))
	report(0)
	for n := 0; ; {
		cmd, err := in.ReadString('\n')
		if err != nil {
			return
		}
		if cmd != "report\n" {
			n++
			step(n)
		}
		report(n)
	}
}
