package main

// Generic functions and a generic type: instantiated for several type
// arguments (distinct shapes: int, float64, string), so the binary holds
// dictionary-passing instantiations such as main.Map[go.shape.int,...].

type Number interface {
	~int | ~int64 | ~uint64 | ~float64
}

func Sum[T Number](xs []T) T {
	var s T
	for _, x := range xs {
		s += x
	}
	return s
}

func Map[T, U any](xs []T, f func(T) U) []U {
	out := make([]U, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func Max[T Number](a, b T) T {
	if a > b {
		return a
	}
	return b
}

type Stack[T any] struct{ items []T }

func (s *Stack[T]) Push(v T) { s.items = append(s.items, v) }

func (s *Stack[T]) Pop() (T, bool) {
	var zero T
	if len(s.items) == 0 {
		return zero, false
	}
	v := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return v, true
}

func (s *Stack[T]) Len() int { return len(s.items) }

type Pair[K comparable, V any] struct {
	Key K
	Val V
}

func Index[K comparable, V any](ps []Pair[K, V]) map[K]V {
	m := make(map[K]V, len(ps))
	for _, p := range ps {
		m[p.Key] = p.Val
	}
	return m
}

func runGenerics(n int) uint64 {
	ints := make([]int, n)
	for i := range ints {
		ints[i] = i
	}
	floats := Map(ints, func(i int) float64 { return float64(i) / 2 })
	strs := Map(ints, func(i int) string { return string(rune('a' + i%26)) })

	var si Stack[int]
	var ss Stack[string]
	for i := 0; i < n; i++ {
		si.Push(Max(i, n-i))
		ss.Push(strs[i])
	}
	var popped int
	for si.Len() > n/2 {
		v, _ := si.Pop()
		popped += v
	}
	s, _ := ss.Pop()

	ps := make([]Pair[string, int], 0, 26)
	for i := 0; i < 26; i++ {
		ps = append(ps, Pair[string, int]{strs[i%len(strs)], i})
	}
	idx := Index(ps)
	return uint64(Sum(ints)) + uint64(Sum(floats)) + uint64(popped) + uint64(len(s)) + uint64(len(idx)) + uint64(Max(2.5, 1.5))
}
