package qr

import (
	"errors"
	"fmt"

	goqr "github.com/piglig/go-qr"
)

// maxContent is the most a QR code can hold (7089 digits, version 40-L).
// Longer input is rejected before any work, whatever its bytes.
const maxContent = 7089

// Segment modes, in the order of the cost tables below.
const (
	modeByte = iota
	modeAlnum
	modeNumeric
	numModes
)

// versionRanges are the version classes sharing character-count widths;
// the optimal segmentation depends on them, so each class is tried in turn.
var versionRanges = [...]struct{ lo, hi int }{{1, 9}, {10, 26}, {27, 40}}

// countBits[class][mode] is the width of a segment's character count.
var countBits = [3][numModes]int{{8, 9, 10}, {16, 11, 12}, {16, 13, 14}}

// encodeSymbol encodes content with optimally mixed byte, alphanumeric and
// numeric segments. piglig's EncodeText picks one mode for the whole string
// (a URL with a long numeric ID then needs a larger symbol), and its
// MakeSegmentsOptimally never returns when the data does not fit at levels
// Q/H (v1.1.0), hence this small port of Nayuki's segmentation algorithm.
func encodeSymbol(content string, ecl goqr.Ecc) (*goqr.QrCode, error) {
	if len(content) > maxContent {
		return nil, fmt.Errorf("%w (max %d)", ErrTooLong, maxContent)
	}
	modes := make([]byte, len(content))
	var tooLong error
	for class, r := range versionRanges {
		segs, err := segmentsFor(content, class, modes)
		if err != nil {
			return nil, err
		}
		// -1: piglig chooses the mask as the standard says; true: raise the
		// level while the symbol keeps its size (Options.Level is a minimum).
		q, err := goqr.EncodeSegments(segs, ecl, r.lo, r.hi, -1, true)
		if err == nil {
			return q, nil
		}
		if !errors.Is(err, goqr.ErrDataTooLong) {
			return nil, err
		}
		tooLong = err // try the next, larger version range
	}
	return nil, fmt.Errorf("%w: %w", ErrTooLong, tooLong)
}

// segmentsFor splits content into the cheapest run of segments for the
// version class. modes is scratch space of len(content).
func segmentsFor(content string, class int, modes []byte) ([]*goqr.QrSegment, error) {
	optimalModes(content, class, modes)
	var segs []*goqr.QrSegment
	for start := 0; start < len(content); {
		end := start + 1
		for end < len(content) && modes[end] == modes[start] {
			end++
		}
		var (
			seg *goqr.QrSegment
			err error
		)
		switch part := content[start:end]; modes[start] {
		case modeNumeric:
			seg, err = goqr.MakeNumeric(part)
		case modeAlnum:
			seg, err = goqr.MakeAlphanumeric(part)
		default:
			seg, err = goqr.MakeBytes([]byte(part))
		}
		if err != nil {
			return nil, fmt.Errorf("segment [%d:%d]: %w", start, end, err)
		}
		segs = append(segs, seg)
		start = end
	}
	return segs, nil
}

// optimalModes fills modes[i] with the mode that encodes content[i] in the
// shortest total bit stream: dynamic programming over "prefix ends in mode
// m", costs in sixths of a bit so that 10/3-bit digits and 11/2-bit
// alphanumerics stay integers.
func optimalModes(content string, class int, modes []byte) {
	const unset = 0xff
	var head, prev [numModes]int
	for m := range numModes {
		head[m] = (4 + countBits[class][m]) * 6 // mode indicator + count
	}
	prev = head
	// from[i][m]: mode of content[i] on the best path ending in mode m.
	from := make([][numModes]byte, len(content))
	for i := 0; i < len(content); i++ {
		c := content[i]
		cur := [numModes]int{}
		from[i] = [numModes]byte{unset, unset, unset}
		cur[modeByte], from[i][modeByte] = prev[modeByte]+8*6, modeByte
		if isAlnum(c) {
			cur[modeAlnum], from[i][modeAlnum] = prev[modeAlnum]+33, modeAlnum
		}
		if '0' <= c && c <= '9' {
			cur[modeNumeric], from[i][modeNumeric] = prev[modeNumeric]+20, modeNumeric
		}
		// Switching: close segment k (rounding up to whole bits) and open j.
		ended, can := cur, from[i]
		for j := range numModes {
			for k := range numModes {
				if can[k] == unset {
					continue // content[i] cannot be in mode k
				}
				cost := (ended[k]+5)/6*6 + head[j]
				if from[i][j] == unset || cost < cur[j] {
					cur[j], from[i][j] = cost, byte(k)
				}
			}
		}
		prev = cur
	}
	end := byte(modeByte)
	for m := range numModes {
		if prev[m] < prev[end] {
			end = byte(m)
		}
	}
	for i := len(content) - 1; i >= 0; i-- {
		end = from[i][end]
		modes[i] = end
	}
}

func isAlnum(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'A' <= c && c <= 'Z':
		return true
	}
	switch c {
	case ' ', '$', '%', '*', '+', '-', '.', '/', ':':
		return true
	}
	return false
}
