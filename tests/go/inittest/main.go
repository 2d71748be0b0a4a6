// inittest: a program whose package inits allocate known amounts, for the
// `goscope run` init report. GODEBUG=inittrace=1 is the oracle.
//
//	inittest            prints what init built, exits 0
//	inittest exit N     ... then exits with status N
//	inittest kill SIG   ... then kills itself with signal SIG (e.g. 15, 9)
//	inittest echo       ... then copies stdin to stdout
//	inittest sleep MS   ... then sleeps MS milliseconds (goroutines keep running)
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"goscope.test/inittest/bg"
	"goscope.test/inittest/known"
	"goscope.test/inittest/patterns"
	"goscope.test/inittest/registry"
	"goscope.test/inittest/tables"
)

// Package-level state built by main's own init.
var names []string

func init() {
	for i := 0; i < 300; i++ {
		names = append(names, fmt.Sprintf("name-%03d", i))
	}
}

func main() {
	<-bg.Done
	fmt.Printf("registry %d tables %d patterns %d bg %d names %d known %d\n",
		len(registry.Entries), len(tables.Squares)+len(tables.Cubes), patterns.Count(), bg.Total, len(names),
		len(known.Pairs)+len(known.Buf40))
	args := os.Args[1:]
	if len(args) == 0 {
		return
	}
	switch args[0] {
	case "exit":
		n, _ := strconv.Atoi(args[1])
		os.Exit(n)
	case "kill":
		n, _ := strconv.Atoi(args[1])
		syscall.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(10 * time.Second)
	case "echo":
		w := bufio.NewWriter(os.Stdout)
		io.Copy(w, os.Stdin)
		w.Flush()
	case "sleep":
		ms, _ := strconv.Atoi(args[1])
		time.Sleep(time.Duration(ms) * time.Millisecond)
	default:
		fmt.Fprintln(os.Stderr, "inittest: unknown command", args[0])
		os.Exit(2)
	}
}
