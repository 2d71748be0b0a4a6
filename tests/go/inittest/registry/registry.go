// Package registry allocates in a package-level variable initializer, as
// generated registries do.
package registry

import "strconv"

type Entry struct {
	Name  string
	Value [6]uint64 // 56-byte struct: a 64-byte size class
}

var Entries = build(2000)

func build(n int) map[string]*Entry {
	m := make(map[string]*Entry, n)
	for i := 0; i < n; i++ {
		name := "entry-" + strconv.Itoa(i)
		m[name] = &Entry{Name: name}
	}
	return m
}
