// Command httpserver is the HTTP workload of scripts/bench-goroutines.sh: a net/http
// server on loopback with two small handlers.
//
//	httpserver [-addr 127.0.0.1:0] [-size 1024]
//
//	/       allocates a -size byte body, fills it and writes it (Content-Length set)
//	/spawn  the same, but the body is built by a new goroutine and handed back over a
//	        channel: one goroutine created and destroyed per request
//
// net/http runs one goroutine per connection, not per request, so with keep-alive
// clients "/" creates almost no goroutines; "/spawn", or "/" with "Connection: close",
// create one (or more) per request.
//
// Prints "ready addr=HOST:PORT pid=PID gomaxprocs=N go=VERSION" on stdout once it
// listens; exits on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

func body(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	if size > 0 {
		b[size-1] = '\n'
	}
	return b
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()

	length := strconv.Itoa(*size)
	write := func(w http.ResponseWriter, b []byte) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", length)
		w.Write(b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		write(w, body(*size))
	})
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		ch := make(chan []byte, 1)
		go func() { ch <- body(*size) }()
		write(w, <-ch)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		srv.Close()
	}()
	fmt.Printf("ready addr=%s pid=%d gomaxprocs=%d go=%s\n", ln.Addr(), os.Getpid(), runtime.GOMAXPROCS(0),
		runtime.Version())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}
