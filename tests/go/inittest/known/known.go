// Package known allocates in its init exactly what its constants say, so an
// init report can be checked without GODEBUG=inittrace=1, which sends Go
// 1.27's size-specialized allocators down their slow paths and so never
// exercises the fast paths a production start-up takes.
package known

// Allocations, each escaping to a package-level array (which is static data,
// not an allocation):
const (
	NumPairs  = 1000 // new(pair): 16 bytes with pointers; 1.27 compiles a direct call to mallocgcSmallScanNoHeaderSC2
	NumBuf40  = 1000 // make([]byte, n40): 40 bytes, size class 48; makeslice -> mallocgc, which 1.27 hands to mallocgcSmallNoScanSC3
	Allocs    = NumPairs + NumBuf40
	Bytes     = NumPairs*16 + NumBuf40*48
	buf40Size = 40
)

type pair struct{ a, b *int }

var (
	Pairs [NumPairs]*pair
	Buf40 [NumBuf40][]byte
	n40   = buf40Size // a variable: the compiler cannot size the slice itself
)

func init() {
	for i := range Pairs {
		Pairs[i] = new(pair)
	}
	for i := range Buf40 {
		Buf40[i] = make([]byte, n40)
	}
}
