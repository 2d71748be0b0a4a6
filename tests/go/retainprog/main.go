// Command retainprog holds memory whose retainers are known by construction,
// for checking goscope retain:
//
//   - main.records, a global map of 32 *Record, each Record (over 512 bytes
//     with pointers: the runtime records its type from go1.22) holding a
//     256 KiB payload;
//   - main.holder, a global *Outer whose field points at an *Inner (typed as
//     Record is) whose field holds a 2 MiB slice;
//   - a 3 MiB slice held by a local of main.holdSlice, a goroutine parked on
//     a channel.
//
// It prints "expect ROOT BYTES" per root (the large objects' bytes; the
// records and maps around them add well under 1%), then "ready", and waits
// until standard input closes.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
)

const (
	nRecords     = 32
	payloadBytes = 256 << 10
	innerBytes   = 2 << 20
	stackBytes   = 3 << 20
)

type Record struct {
	id      int
	payload []byte
	refs    [80]*Record
}

type Inner struct {
	data []byte
	refs [70]*Inner
}

type Outer struct {
	name  string
	inner *Inner
}

var (
	records map[int]*Record
	holder  *Outer
)

func holdSlice(ready chan<- struct{}, block <-chan struct{}) {
	buf := make([]byte, stackBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	ready <- struct{}{}
	<-block
	runtime.KeepAlive(buf)
}

func main() {
	records = make(map[int]*Record)
	for i := 0; i < nRecords; i++ {
		records[i] = &Record{id: i, payload: make([]byte, payloadBytes)}
	}
	holder = &Outer{name: "holder", inner: &Inner{data: make([]byte, innerBytes)}}

	ready, block := make(chan struct{}), make(chan struct{})
	go holdSlice(ready, block)
	<-ready
	runtime.GC()

	fmt.Printf("expect main.records %d\n", nRecords*payloadBytes)
	fmt.Printf("expect main.holder %d\n", innerBytes)
	fmt.Printf("expect main.holdSlice %d\n", stackBytes)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString(0)
	close(block)
}
