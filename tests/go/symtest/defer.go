package main

import "errors"

var errOdd = errors.New("odd")

func mayPanic(i int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errOdd
		}
	}()
	if i%2 == 1 {
		panic(i)
	}
	return nil
}

func withDefers(i int) (v int) {
	for k := 0; k < 3; k++ {
		defer func(k int) { v += k }(k)
	}
	return i
}

func runDefer(n int) uint64 {
	var s uint64
	for i := 0; i < n/10; i++ {
		if mayPanic(i) != nil {
			s++
		}
		s += uint64(withDefers(i))
	}
	return s
}
