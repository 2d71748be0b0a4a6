//go:build !go1.23

package main

// Before Go 1.23 there is no iter.Pull: the same values, computed directly,
// so that every binary prints the same checksum.
func pullWork() uint64 {
	var total uint64
	for k := 0; k < 1000; k++ {
		if k%2 == 0 {
			for _, v := range fib(k, 50) {
				total = total*31 + v
			}
		} else {
			for i := 0; i < k; i++ {
				total = total*31 + uint64(i)
			}
		}
	}
	return total
}
