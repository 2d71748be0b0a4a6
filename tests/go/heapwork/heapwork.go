// Package heapwork holds the allocation sites of goscope's heap-profiling
// test programs (heapprog, heapprog_pprof): fixed volumes from known functions,
// so that a profile's per-site numbers can be checked. Every site is a
// non-inlined function that allocates nothing but its objects.
package heapwork

import "runtime"

// Sampled workload: SiteA allocates 3x the bytes of SiteB (both garbage);
// SiteRetained's objects stay reachable through Retained; SitePointers makes
// pointerful garbage whose objects carry a malloc header on 1.22+ (their
// address is base+8: frees must still match).
const (
	SizeA        = 16384 // a size class: the profile records exactly this
	SizeB        = 4096
	SizeRetained = 65536 // a large object of exactly 8 pages
	NumRetained  = 512   // 32 MiB retained
	LenPointers  = 128   // []*int of 1024 bytes: slot 1024, or 1152 with the 1.22+ header
)

var (
	sink     []byte
	sinkPtrs []*int
	sinkTiny *[8]byte
	sinkPair *pair
	// Retained keeps SiteRetained's objects live. Allocated by Prepare, so
	// that SiteRetained allocates only the objects themselves.
	Retained [][]byte
)

//go:noinline
func SiteA(n int) {
	for i := 0; i < n; i++ {
		sink = make([]byte, SizeA)
	}
	sink = nil
}

//go:noinline
func SiteB(n int) {
	for i := 0; i < n; i++ {
		sink = make([]byte, SizeB)
	}
	sink = nil
}

//go:noinline
func SitePointers(n int) {
	for i := 0; i < n; i++ {
		sinkPtrs = make([]*int, LenPointers)
	}
	sinkPtrs = nil
}

//go:noinline
func SiteRetained() {
	for i := range Retained {
		Retained[i] = make([]byte, SizeRetained)
	}
}

// Prepare allocates what the sites need outside them.
//
//go:noinline
func Prepare() { Retained = make([][]byte, NumRetained) }

// Sampled runs the sampled workload: bMiB MiB at SiteB, 3*bMiB at SiteA,
// bMiB/4 at SitePointers, 32 MiB retained, then two collections so that every
// garbage object of the workload is swept (freed) before it returns.
func Sampled(bMiB int) {
	nB := bMiB << 20 / SizeB
	nA := 3 * (bMiB << 20) / SizeA
	nP := (bMiB << 20) / 4 / (LenPointers * 8)
	// Interleaved in slices so that the sites see the same heap conditions.
	const rounds = 16
	for r := 0; r < rounds; r++ {
		SiteA(nA / rounds)
		SiteB(nB / rounds)
		SitePointers(nP / rounds)
	}
	SiteRetained()
	runtime.GC()
	runtime.GC()
}

// Exact workload: known numbers of allocations of known sizes.
const (
	NumSmall    = 10000 // make([]byte, 100): size class 112
	NumPointers = 2000  // make([]*int, 128), 1024 bytes with pointers: class 1024; 1152 on 1.22+ (8-byte type header)
	NumTiny     = 5000  // new([8]byte): tiny allocator, 8 bytes requested
	NumLarge    = 300   // make([]byte, 40000): 5 pages, 40960
	// Below 81 bytes Go 1.27 allocates in size-specialized functions, reached two ways:
	NumPair    = 3000 // new(pair), 16 bytes with pointers: the compiler calls mallocgcSmallScanNoHeaderSC2 itself
	NumSmall40 = 4000 // make([]byte, n) with n = 40 unknown to the compiler: makeslice -> mallocgc hands it to mallocgcSmallNoScanSC3 (class 48)
)

type pair struct{ a, b *int }

//go:noinline
func ExactSmall() {
	for i := 0; i < NumSmall; i++ {
		sink = make([]byte, 100)
	}
}

//go:noinline
func ExactPointers() {
	for i := 0; i < NumPointers; i++ {
		sinkPtrs = make([]*int, 128)
	}
}

//go:noinline
func ExactTiny() {
	for i := 0; i < NumTiny; i++ {
		sinkTiny = new([8]byte)
	}
}

//go:noinline
func ExactLarge() {
	for i := 0; i < NumLarge; i++ {
		sink = make([]byte, 40000)
	}
}

//go:noinline
func ExactPair() {
	for i := 0; i < NumPair; i++ {
		sinkPair = new(pair)
	}
}

//go:noinline
func ExactSmall40(n int) {
	for i := 0; i < NumSmall40; i++ {
		sink = make([]byte, n)
	}
}

// Exact runs the exact workload.
func Exact() {
	ExactSmall()
	ExactPointers()
	ExactTiny()
	ExactLarge()
	ExactPair()
	ExactSmall40(40)
	sink, sinkPtrs, sinkTiny, sinkPair = nil, nil, nil, nil
	runtime.GC()
}
