package main

import "goscope.test/symtest/shapes"

type counter struct {
	hits  map[string]int
	total int
}

func newCounter() *counter { return &counter{hits: map[string]int{}} }

func (c *counter) add(name string) { c.hits[name]++; c.total++ }

func (c counter) count(name string) int { return c.hits[name] }

type tally int

func (t tally) double() tally { return t * 2 }
func (t *tally) inc()         { *t++ }

func runMethods(n int) uint64 {
	c := newCounter()
	var t tally
	var list []shapes.Shape
	for i := 0; i < n; i++ {
		switch i % 3 {
		case 0:
			r := shapes.Rect{W: float64(i), H: 2}
			r.Scale(1.5)
			list = append(list, r)
		case 1:
			list = append(list, shapes.Circle{R: float64(i % 17)})
		default:
			list = append(list, &shapes.Poly{Pts: [][2]float64{{0, 0}, {float64(i), 0}, {0, 3}}})
		}
		c.add(list[len(list)-1].Name())
		t.inc()
	}
	area, perim := shapes.Total(list)
	return uint64(area) + uint64(perim) + uint64(c.count("rect")) + uint64(t.double())
}
