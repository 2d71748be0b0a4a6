package main

import "sync"

func produce(out chan<- uint64, n int) {
	for i := 0; i < n; i++ {
		out <- mix(uint64(i), 1)
	}
	close(out)
}

func consume(in <-chan uint64, wg *sync.WaitGroup, res *uint64, mu *sync.Mutex) {
	defer wg.Done()
	var local uint64
	for v := range in {
		local += v
	}
	mu.Lock()
	*res += local
	mu.Unlock()
}

func runGoroutines(n int) uint64 {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var res uint64
	for w := 0; w < 4; w++ {
		ch := make(chan uint64, 16)
		go produce(ch, n/4)
		wg.Add(1)
		go consume(ch, &wg, &res, &mu)
	}
	// closure goroutines
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			v := level3(uint64(k))
			mu.Lock()
			res += v
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return res
}
