package qr

import (
	"math/bits"
	"sync"

	goqr "github.com/piglig/go-qr"
)

// Mask selection. ISO/IEC 18004 (7.8.3) has the encoder try the eight mask
// patterns and keep the one whose symbol scores the fewest penalty points.
// piglig does this module by module and spends about nine tenths of an
// encoding on it. Here piglig encodes once with mask 0, and the eight
// candidates are scored on bit lines: each masked symbol is the unmasked
// data XOR a cached pattern, runs are found from the transitions between
// neighbours, and 2x2 blocks with a few word operations; the winner is
// built the same way. The scoring is that of piglig (Nayuki's reading of the
// standard: the area outside the symbol counts as light, ties go to the
// lower mask), so the symbols are the same module for module;
// TestRemaskMatchesPiglig checks it.

// Penalty points per rule.
const (
	penaltyRun    = 3  // N1: a run of five modules of one color, plus one per module beyond
	penaltyBlock  = 3  // N2: a 2x2 block of one color
	penaltyFinder = 40 // N3: a 1:1:3:1:1 finder-like pattern with four light modules on a side
	penaltyDark   = 10 // N4: per 5% of dark modules away from half
)

// versionMasks holds, for one version, each mask pattern restricted to the
// data modules (function patterns are never masked), as rows and as columns.
type versionMasks struct {
	rows, cols [8]*bitGrid
}

var maskCache [41]struct {
	once sync.Once
	m    *versionMasks
}

func masksFor(version int) *versionMasks {
	c := &maskCache[version]
	c.once.Do(func() {
		n := 17 + 4*version
		fn := functionModules(version)
		m := &versionMasks{}
		for k := range 8 {
			m.rows[k], m.cols[k] = newBitGrid(n), newBitGrid(n)
			for y := range n {
				for x := range n {
					if !fn.get(x, y) && maskInverts(k, x, y) {
						m.rows[k].set(x, y, true)
						m.cols[k].set(y, x, true)
					}
				}
			}
		}
		c.m = m
	})
	return c.m
}

// maskInverts reports whether mask pattern k inverts module (x, y) (column
// x, row y), per the standard's table of mask conditions.
func maskInverts(k, x, y int) bool {
	switch k {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return (x*y)%2+(x*y)%3 == 0
	case 6:
		return ((x*y)%2+(x*y)%3)%2 == 0
	default:
		return ((x+y)%2+(x*y)%3)%2 == 0
	}
}

// functionModules marks the modules that are not data: finder patterns with
// their separators, timing patterns, alignment patterns, format and version
// information, and the dark module.
func functionModules(version int) *bitGrid {
	n := 17 + 4*version
	g := newBitGrid(n)
	rect := func(x0, y0, x1, y1 int) { // [x0, x1) x [y0, y1), clipped
		for y := max(y0, 0); y < min(y1, n); y++ {
			for x := max(x0, 0); x < min(x1, n); x++ {
				g.set(x, y, true)
			}
		}
	}
	rect(0, 0, 9, 9)   // top-left finder, separator, format information
	rect(n-8, 0, n, 9) // top-right finder, separator, format information
	rect(0, n-8, 9, n) // bottom-left finder, separator, format information, dark module
	rect(6, 0, 7, n)   // vertical timing pattern
	rect(0, 6, n, 7)   // horizontal timing pattern
	centers := alignmentCenters(version)
	for i, cy := range centers {
		for j, cx := range centers {
			last := len(centers) - 1
			if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) {
				continue // where the finder patterns are
			}
			rect(cx-2, cy-2, cx+3, cy+3)
		}
	}
	if version >= 7 {
		rect(n-11, 0, n-8, 6) // version information, top right
		rect(0, n-11, 6, n-8) // and bottom left
	}
	return g
}

// alignmentCenters returns the row and column coordinates of the alignment
// pattern centers: from 6 to n-7, evenly spaced by an even step (the
// standard's table, whose one irregular entry is version 32).
func alignmentCenters(version int) []int {
	if version == 1 {
		return nil
	}
	count := version/7 + 2
	step := (version*4 + count*2 + 1) / (count*2 - 2) * 2
	if version == 32 {
		step = 26
	}
	centers := make([]int, count)
	centers[0] = 6
	for i, c := count-1, 4*version+10; i > 0; i, c = i-1, c-step {
		centers[i] = c
	}
	return centers
}

// formatBits is the 15-bit format information for error correction bits e
// (L 01, M 00, Q 11, H 10) and mask k: five data bits, ten BCH(15,5) check
// bits (generator 0x537), XOR 0x5412.
func formatBits(e, k int) int {
	data := e<<3 | k
	rem := data << 10
	for i := 14; i >= 10; i-- {
		if rem>>i&1 == 1 {
			rem ^= 0x537 << (i - 10)
		}
	}
	return (data<<10 | rem) ^ 0x5412
}

// formatPositions are the two copies of format bit i, 0 (least significant)
// to 14, as (x, y) for a symbol of edge n.
func formatPositions(n, i int) (x1, y1, x2, y2 int) {
	switch {
	case i < 6:
		x1, y1 = 8, i
	case i < 8:
		x1, y1 = 8, i+1
	case i == 8:
		x1, y1 = 7, 8
	default:
		x1, y1 = 14-i, 8
	}
	if i < 8 {
		x2, y2 = n-1-i, 8
	} else {
		x2, y2 = 8, n-15+i
	}
	return x1, y1, x2, y2
}

// remask takes sym, encoded with mask 0, and returns it with the mask the
// standard selects instead, and that mask's number.
func remask(sym *goqr.QrCode) (*bitGrid, int) {
	n := sym.Size()
	version := (n - 17) / 4
	masks := masksFor(version)

	// The unmasked symbol: mask 0 undone on the data modules.
	data := newBitGrid(n)
	for y := range n {
		for x := range n {
			if sym.Module(x, y) {
				data.set(x, y, true)
			}
		}
	}
	for i, w := range masks.rows[0].words {
		data.words[i] ^= w
	}
	e := eccBits(sym)
	dataCols := newBitGrid(n)
	data.transposeInto(dataCols)

	rows, cols := newBitGrid(n), newBitGrid(n)
	runs := make([]int, 0, n+2) // at most n runs, a light run before and one after
	best, bestScore := 0, int(^uint(0)>>1)
	for k := range 8 {
		applyMask(rows, data, masks.rows[k], e, k, false)
		applyMask(cols, dataCols, masks.cols[k], e, k, true)
		if s := score(rows, cols, runs); s < bestScore {
			best, bestScore = k, s
		}
	}
	applyMask(rows, data, masks.rows[best], e, best, false)
	return rows, best
}

// applyMask sets dst to the unmasked symbol data XOR the mask pattern, with
// the format information for error correction bits e and mask k; transposed
// when the grids hold columns.
func applyMask(dst, data, pattern *bitGrid, e, k int, transposed bool) {
	for i := range dst.words {
		dst.words[i] = data.words[i] ^ pattern.words[i]
	}
	f := formatBits(e, k)
	for i := range 15 {
		dark := f>>i&1 == 1
		x1, y1, x2, y2 := formatPositions(dst.n, i)
		if transposed {
			x1, y1, x2, y2 = y1, x1, y2, x2
		}
		dst.set(x1, y1, dark)
		dst.set(x2, y2, dark)
	}
}

// eccBits reads the error correction bits from the format information of a
// mask-0 symbol (the encoder may have raised the requested level).
func eccBits(sym *goqr.QrCode) int {
	n := sym.Size()
	for e := range 4 {
		f := formatBits(e, 0)
		match := true
		for i := range 15 {
			x, y, _, _ := formatPositions(n, i)
			if sym.Module(x, y) != (f>>i&1 == 1) {
				match = false
				break
			}
		}
		if match {
			return e
		}
	}
	return 0 // unreachable for a symbol piglig encoded
}

// score is the penalty of the symbol given as rows and as columns.
func score(rows, cols *bitGrid, runs []int) int {
	n := rows.n
	s, dark := 0, 0
	for y := range n {
		line := rows.line(y)
		s += lineScore(line, n, runs)
		for _, w := range line {
			dark += bits.OnesCount64(w)
		}
		if y+1 < n {
			s += penaltyBlock * blocks(line, rows.line(y+1), n)
		}
	}
	for x := range n {
		s += lineScore(cols.line(x), n, runs)
	}
	total := n * n
	k := (abs(dark*20-total*10)+total-1)/total - 1
	return s + k*penaltyDark
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// blocks counts the 2x2 blocks of one color whose top row is a and bottom
// row b.
func blocks(a, b []uint64, n int) int {
	c := 0
	for i := range a {
		ah, bh := shifted(a, i), shifted(b, i)
		same := ^(a[i] ^ ah) & ^(b[i] ^ bh) & ^(a[i] ^ b[i])
		c += bits.OnesCount64(same & validPairs(i, n))
	}
	return c
}

// lineScore is the N1 and N3 penalty of one row or column of n modules.
// buf is scratch space of capacity n+2.
func lineScore(line []uint64, n int, buf []int) int {
	// Run lengths, from the transitions between neighbours, from buf[1] on;
	// buf[0] is kept for a light run before the line.
	buf = buf[:1]
	start := 0
	for i := range line {
		t := (line[i] ^ shifted(line, i)) & validPairs(i, n)
		for t != 0 {
			end := i*64 + bits.TrailingZeros64(t) + 1
			buf = append(buf, end-start)
			start = end
			t &= t - 1
		}
	}
	buf = append(buf, n-start)
	runs := buf[1:]

	s := 0
	for _, r := range runs {
		if r >= 5 {
			s += penaltyRun + r - 5
		}
	}

	// Finder-like patterns: dark, light, dark, light, dark runs of a, a, 3a,
	// a, a between light runs, one of them at least 4a long. The sequence is
	// made to start and end with light runs that include the n light modules
	// outside the symbol on that side.
	firstDark := line[0]&1 == 1
	lastDark := firstDark != (len(runs)%2 == 0)
	seq := runs
	if firstDark {
		buf[0] = n
		seq = buf
	} else {
		seq[0] += n
	}
	if lastDark {
		seq = append(seq, n)
	} else {
		seq[len(seq)-1] += n
	}
	for j := 6; j < len(seq); j += 2 {
		a := seq[j-1]
		if a == 0 || seq[j-2] != a || seq[j-3] != 3*a || seq[j-4] != a || seq[j-5] != a {
			continue
		}
		before, after := seq[j-6], seq[j]
		if before >= 4*a && after >= a {
			s += penaltyFinder
		}
		if after >= 4*a && before >= a {
			s += penaltyFinder
		}
	}
	return s
}
