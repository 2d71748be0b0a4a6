// Package shapes gives symtest methods on value and pointer receivers,
// interfaces, and small exported helpers that the compiler inlines across the
// package boundary (so inline trees name functions from another package and
// another file).
package shapes

import "math"

// Shape is implemented by Rect, Circle and Poly.
type Shape interface {
	Area() float64
	Perimeter() float64
	Name() string
}

type Rect struct{ W, H float64 }

func (r Rect) Area() float64      { return r.W * r.H }
func (r Rect) Perimeter() float64 { return 2 * (r.W + r.H) }
func (r Rect) Name() string       { return "rect" }

// Scale has a pointer receiver.
func (r *Rect) Scale(f float64) { r.W *= f; r.H *= f }

type Circle struct{ R float64 }

func (c Circle) Area() float64      { return math.Pi * Sq(c.R) }
func (c Circle) Perimeter() float64 { return 2 * math.Pi * c.R }
func (c Circle) Name() string       { return "circle" }

type Poly struct{ Pts [][2]float64 }

func (p *Poly) Area() float64 {
	var a float64
	for i := range p.Pts {
		j := (i + 1) % len(p.Pts)
		a += Cross(p.Pts[i], p.Pts[j])
	}
	return Abs(a) / 2
}

func (p *Poly) Perimeter() float64 {
	var s float64
	for i := range p.Pts {
		j := (i + 1) % len(p.Pts)
		s += Dist(p.Pts[i], p.Pts[j])
	}
	return s
}

func (p *Poly) Name() string { return "poly" }

// Sq, Abs, Cross and Dist are leaf helpers small enough to inline.
func Sq(x float64) float64 { return x * x }

func Abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func Cross(a, b [2]float64) float64 { return a[0]*b[1] - a[1]*b[0] }

// Dist inlines Sq: a two-level inline chain across packages.
func Dist(a, b [2]float64) float64 { return math.Sqrt(Sq(a[0]-b[0]) + Sq(a[1]-b[1])) }

// Total calls through the interface (not inlinable: dynamic dispatch).
func Total(shapes []Shape) (area, perim float64) {
	for _, s := range shapes {
		area += s.Area()
		perim += s.Perimeter()
	}
	return
}
