//go:build !go1.23

package main

// Before Go 1.23 there is no iter.Pull; the checksum matches 1.23+ runs.
func pullAll(k int) uint64 { return uint64(3 * k) }

func pullGoroutines(k int) int { return 0 }
