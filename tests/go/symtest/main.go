// Command symtest exercises the symbolizer: many small functions the compiler
// inlines (leaf helpers called from loops, chains of inlined helpers, helpers
// from another package), closures (called directly, stored, and run as
// goroutines), methods on value and pointer receivers, generic functions and
// types, deferred calls and recover. It runs for a fraction of a second,
// prints a checksum and exits 0.
package main

import (
	"fmt"
	"os"
)

func main() {
	n := 2000
	if len(os.Args) > 1 {
		fmt.Sscanf(os.Args[1], "%d", &n)
	}
	var sum uint64
	sum += runInline(n)
	sum += runClosures(n)
	sum += runMethods(n)
	sum += runGenerics(n)
	sum += runGoroutines(n)
	sum += runDefer(n)
	fmt.Printf("symtest ok %d\n", sum)
}
