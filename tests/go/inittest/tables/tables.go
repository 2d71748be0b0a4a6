// Package tables has two init functions and a large allocation.
package tables

var Squares []uint64
var Cubes []uint64

func init() {
	Squares = make([]uint64, 1<<16) // 512 KiB: a large object
	for i := range Squares {
		Squares[i] = uint64(i * i)
	}
}

func init() {
	for i := 0; i < 1000; i++ {
		Cubes = append(Cubes, uint64(i*i*i))
	}
}
