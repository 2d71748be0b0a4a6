// Command bigheap holds a heap of a given size, made of pointer-carrying
// objects that a reachability walk must read, and a few leaked goroutines,
// for measuring what goscope leaks costs the process (its pause) and itself:
//
//	bigheap -mib N
//
// builds N MiB of 128-byte nodes (a tree reached from a global, each node
// also pointing at a 64-byte payload), parks 10 goroutines on channels only
// they hold, prints "ready" and waits until standard input closes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
)

type node struct {
	left, right *node
	payload     *[64]byte
	id          uint64
	pad         [12]uint64
}

var root *node

func build(n int) *node {
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = &node{id: uint64(i), payload: new([64]byte)}
	}
	for i := range nodes {
		if l := 2*i + 1; l < n {
			nodes[i].left = nodes[l]
		}
		if r := 2*i + 2; r < n {
			nodes[i].right = nodes[r]
		}
	}
	return nodes[0]
}

func main() {
	mib := flag.Int("mib", 100, "heap to hold, MiB")
	flag.Parse()
	root = build(*mib << 20 / (128 + 64))
	for i := 0; i < 10; i++ {
		ch := make(chan int)
		go func() { <-ch }()
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("ready HeapAlloc=%d HeapObjects=%d\n", ms.HeapAlloc, ms.HeapObjects)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
	}
}
