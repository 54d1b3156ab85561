package qr

import "math/bits"

// bitGrid is an n x n grid of modules, one bit line per row (or column,
// when transposed): bit x of line y is module (x, y). Bits past n are zero.
type bitGrid struct {
	n, w  int // edge in modules; words per line
	words []uint64
}

func newBitGrid(n int) *bitGrid {
	w := (n + 63) / 64
	return &bitGrid{n: n, w: w, words: make([]uint64, n*w)}
}

func (g *bitGrid) line(y int) []uint64 { return g.words[y*g.w : (y+1)*g.w] }

func (g *bitGrid) set(x, y int, dark bool) {
	i, b := y*g.w+x/64, uint64(1)<<(x%64)
	if dark {
		g.words[i] |= b
	} else {
		g.words[i] &^= b
	}
}

func (g *bitGrid) get(x, y int) bool { return g.words[y*g.w+x/64]>>(x%64)&1 == 1 }

// transposeInto writes the columns of g as the lines of t.
func (g *bitGrid) transposeInto(t *bitGrid) {
	clear(t.words)
	for y := range g.n {
		for wi, word := range g.line(y) {
			for word != 0 {
				x := wi*64 + bits.TrailingZeros64(word)
				t.words[x*t.w+y/64] |= 1 << (y % 64)
				word &= word - 1
			}
		}
	}
}

// shifted returns bits x+1 of line at the positions of bits x of word i.
func shifted(line []uint64, i int) uint64 {
	w := line[i] >> 1
	if i+1 < len(line) {
		w |= line[i+1] << 63
	}
	return w
}

// validPairs masks word i to the positions x with x+1 < n.
func validPairs(i, n int) uint64 {
	lo := i * 64
	switch {
	case n-1 <= lo:
		return 0
	case n-1 >= lo+64:
		return ^uint64(0)
	default:
		return uint64(1)<<(n-1-lo) - 1
	}
}
