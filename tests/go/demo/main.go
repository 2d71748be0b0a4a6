// Command demo is goscope's bundled demo target: a small "service" with the
// three problems goscope is built to show, with no network and no
// dependencies outside the standard library.
//
//   - goroutine leaks: pool.Dispatch abandons workers (blocked on a channel
//     send) and pool.Watch starts watchers that wait on a channel nobody
//     closes; the two are created from distinct nested call sites.
//   - heap growth: every request stores a record in a cache that only evicts
//     past -cache-mb, plus short-lived garbage (formatting, scratch buffers).
//   - init cost: package cache and package main build tables in init().
//
// It prints "pid=N" first, then a status line every -status interval, and
// runs until killed or for -duration. The work per tick is fixed, so runs
// are repeatable.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"goscope.test/demo/cache"
	"goscope.test/demo/internal/pool"
)

var (
	duration   = flag.Duration("duration", 0, "stop after this long (0: run until killed)")
	tick       = flag.Duration("tick", 20*time.Millisecond, "interval between requests")
	recordSize = flag.Int("record-size", 16<<10, "bytes retained per request")
	cacheMB    = flag.Int("cache-mb", 256, "cache cap in MiB, after which old records are evicted")
	maxLeaks   = flag.Int64("max-leaks", 20000, "stop leaking goroutines once this many are blocked")
	leakEvery  = flag.Int("leak-every", 10, "abandon a worker batch every N requests")
	watchEvery = flag.Int("watch-every", 25, "start a never-stopped watcher every N requests")
	status     = flag.Duration("status", 5*time.Second, "status line interval (0: none)")
)

// routes is package-level init work in main: a table built by a function
// call in a variable initialiser, then sorted in init().
var routes = buildRoutes(512)

var routeIndex map[string]int

func init() {
	sort.Strings(routes)
	routeIndex = make(map[string]int, len(routes))
	for i, r := range routes {
		routeIndex[r] = i
	}
}

func buildRoutes(n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("/api/v%d/%s/%d", i%3+1, []string{"users", "orders", "items", "carts"}[i%4], i))
	}
	return out
}

type server struct {
	store *cache.Cache
	pool  *pool.Pool
	n     int
}

func main() {
	flag.Parse()
	fmt.Printf("pid=%d\n", os.Getpid())

	s := &server{store: cache.New(int64(*cacheMB) << 20), pool: &pool.Pool{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	var statusC <-chan time.Time
	if *status > 0 {
		t := time.NewTicker(*status)
		defer t.Stop()
		statusC = t.C
	}
	ticker := time.NewTicker(*tick)
	defer ticker.Stop()
	start := time.Now()
	for {
		select {
		case <-ticker.C:
			s.handleRequest()
		case <-statusC:
			s.report(time.Since(start))
		case <-deadline:
			s.report(time.Since(start))
			return
		case sig := <-sigs:
			fmt.Printf("signal %v\n", sig)
			s.report(time.Since(start))
			return
		}
	}
}

// handleRequest is one unit of service work.
func (s *server) handleRequest() {
	s.n++
	route := routes[s.n%len(routes)]
	key := fmt.Sprintf("%s#%d", route, s.n)
	rec := s.store.Put(key, *recordSize) // retained: heap growth
	s.render(rec)                        // garbage
	s.fanOut(rec)
	if *watchEvery > 0 && s.n%*watchEvery == 0 && s.canLeak() {
		s.pool.Watch(key)
	}
}

// fanOut splits the record into jobs and runs them on the pool; every
// leakEvery-th request abandons its batch.
func (s *server) fanOut(rec *cache.Record) {
	const parts = 4
	jobs := make([]pool.Job, parts)
	chunk := len(rec.Payload) / parts
	for i := range jobs {
		jobs[i] = pool.Job{ID: s.n*parts + i, Data: rec.Payload[i*chunk : (i+1)*chunk]}
	}
	leak := *leakEvery > 0 && s.n%*leakEvery == 0 && s.canLeak()
	s.pool.Dispatch(jobs, leak)
}

func (s *server) canLeak() bool {
	_, _, blocked := s.pool.Stats()
	return blocked < *maxLeaks
}

// render produces short-lived garbage: a formatted report that is dropped.
func (s *server) render(rec *cache.Record) int {
	var b strings.Builder
	for k, v := range rec.Tags {
		fmt.Fprintf(&b, "%s=%s;", k, v)
	}
	scratch := make([]byte, 0, 1024)
	for i := 0; i < 64 && i < len(rec.Payload); i++ {
		scratch = append(scratch, fmt.Sprintf("%02x", rec.Payload[i])...)
	}
	return b.Len() + len(scratch) + routeIndex[routes[s.n%len(routes)]]
}

func (s *server) report(up time.Duration) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	records, bytes := s.store.Stats()
	started, finished, blocked := s.pool.Stats()
	fmt.Printf("uptime=%s requests=%d goroutines=%d blocked=%d started=%d finished=%d heap_alloc=%dKiB cache_records=%d cache_bytes=%dKiB\n",
		up.Round(time.Millisecond), s.n, runtime.NumGoroutine(), blocked, started, finished,
		ms.HeapAlloc>>10, records, bytes>>10)
}
