// Command heapprog_pprof is heapprog with runtime/pprof: memory profiling stays
// enabled (MemProfileRate 512 KiB), and the program reports what its own heap
// profile saw in the workload's window, for comparison with goscope's.
//
// Protocol: as heapprog, and before "heapprog: done" one line per site and
// object size that changed in the window:
//
//	heapprog: site NAME size=S alloc_objects=N alloc_bytes=N inuse_objects=N inuse_bytes=N
//
// raw (unscaled) runtime.MemProfile numbers of records whose first non-runtime
// frame is heapwork.NAME and whose objects are S bytes (AllocBytes /
// AllocObjects), taken after the workload minus before it (each
// preceded by runtime.GC(), which publishes the profile). With -profiles DIR it
// also writes DIR/before.pb.gz and DIR/after.pb.gz (runtime/pprof heap
// profiles). -rate N sets runtime.MemProfileRate = N at start. With -mode exact it sets runtime.MemProfileRate = 1 at start, so
// that its profile records every allocation, as goscope's exact mode does.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"goscope.test/heapwork"
)

var (
	mode     = flag.String("mode", "sampled", "workload: sampled or exact")
	bMiB     = flag.Int("b", 100, "sampled: MiB allocated at SiteB (SiteA allocates 3x)")
	profiles = flag.String("profiles", "", "directory for before.pb.gz and after.pb.gz")
	rate     = flag.Int("rate", 0, "set runtime.MemProfileRate to this at start (0: leave the default)")
)

type counts struct{ allocObjects, allocBytes, inuseObjects, inuseBytes int64 }

// key: a site and an object size, as goscope's records are keyed.
type key struct {
	site string
	size int64
}

// site is the first non-runtime function of a record's stack, as
// runtime/pprof's heap profile shows it.
func site(stk []uintptr) string {
	for _, pc := range stk {
		f := runtime.FuncForPC(pc)
		if f == nil {
			continue
		}
		name := f.Name()
		if strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/") {
			continue
		}
		return name
	}
	return ""
}

func snapshot() map[key]counts {
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		n, ok = runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
	}
	out := map[key]counts{}
	for _, r := range recs {
		name := site(r.Stack())
		const prefix = "goscope.test/heapwork."
		if !strings.HasPrefix(name, prefix) || r.AllocObjects == 0 {
			continue
		}
		k := key{strings.TrimPrefix(name, prefix), r.AllocBytes / r.AllocObjects}
		c := out[k]
		c.allocObjects += r.AllocObjects
		c.allocBytes += r.AllocBytes
		c.inuseObjects += r.InUseObjects()
		c.inuseBytes += r.InUseBytes()
		out[k] = c
	}
	return out
}

func writeProfile(name string) {
	if *profiles == "" {
		return
	}
	f, err := os.Create(filepath.Join(*profiles, name))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f.Close()
}

func main() {
	flag.Parse()
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	if *mode == "exact" {
		runtime.MemProfileRate = 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM)
	heapwork.Prepare()
	fmt.Printf("heapprog: ready pid=%d memprofilerate=%d\n", os.Getpid(), runtime.MemProfileRate)
	<-sig
	before := snapshot()
	writeProfile("before.pb.gz")
	switch *mode {
	case "exact":
		heapwork.Exact()
	default:
		heapwork.Sampled(*bMiB)
	}
	after := snapshot()
	writeProfile("after.pb.gz")
	var keys []key
	for k := range after {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].site < keys[j].site || keys[i].site == keys[j].site && keys[i].size < keys[j].size
	})
	for _, k := range keys {
		a, b := after[k], before[k]
		if a == b {
			continue
		}
		fmt.Printf("heapprog: site %s size=%d alloc_objects=%d alloc_bytes=%d inuse_objects=%d inuse_bytes=%d\n",
			k.site, k.size, a.allocObjects-b.allocObjects, a.allocBytes-b.allocBytes,
			a.inuseObjects-b.inuseObjects, a.inuseBytes-b.inuseBytes)
	}
	fmt.Printf("heapprog: done memprofilerate=%d\n", runtime.MemProfileRate)
	<-sig
}
