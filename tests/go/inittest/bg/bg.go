// Package bg starts a goroutine in init that allocates while later packages
// initialize; GODEBUG=inittrace counts only the init goroutine's allocations.
package bg

var Done = make(chan struct{})
var Total int

type node struct {
	next *node
	pad  [4]uint64
}

func init() {
	go func() {
		var head *node
		for i := 0; i < 5000; i++ {
			head = &node{next: head}
			Total++
		}
		close(Done)
	}()
}
