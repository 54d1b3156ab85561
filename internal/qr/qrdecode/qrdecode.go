// Package qrdecode reads QR codes back from the images the operator writes, for tests: a test that only
// checks that an image exists proves nothing, one that decodes it back to the URL proves the link works.
//
// PNGs are decoded with gozxing, an independent decoder. SVGs are rasterized first: every dark shape the
// renderer writes is a rectilinear path on the module grid, so a small path parser and an even-odd fill
// at module centres turn the SVG into a bitmap without a browser. Terminal drawings (half blocks) are read
// back module by module.
package qrdecode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// PNG decodes a PNG image of a QR code to its content.
func PNG(data []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("decoding PNG: %w", err)
	}
	return Image(img)
}

// Image decodes a QR code in an image. It tries the pure-barcode mode first (the images here are exactly
// a code in its quiet zone, and large symbols decode reliably that way), then the general detector.
func Image(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("binarizing image: %w", err)
	}
	reader := qrcode.NewQRCodeReader()
	res, err := reader.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		res, err = reader.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
		if err != nil {
			return "", fmt.Errorf("decoding QR code: %w", err)
		}
	}
	return res.GetText(), nil
}

var (
	viewBoxRe = regexp.MustCompile(`viewBox="([-\d.]+)[ ,]+([-\d.]+)[ ,]+([-\d.]+)[ ,]+([-\d.]+)"`)
	pathRe    = regexp.MustCompile(`<path[^>]*\sd="([^"]*)"[^>]*>`)
	fillRe    = regexp.MustCompile(`fill="([^"]*)"`)
)

// SVG rasterizes an SVG QR code (dark paths on a light background) and decodes it.
func SVG(data []byte) (string, error) {
	img, err := Rasterize(data, 4)
	if err != nil {
		return "", err
	}
	return Image(img)
}

// Rasterize draws the dark paths of an SVG on its viewBox grid, scale pixels per unit.
func Rasterize(data []byte, scale int) (*image.Gray, error) {
	m := viewBoxRe.FindSubmatch(data)
	if m == nil {
		return nil, errors.New("svg: no viewBox")
	}
	var box [4]int
	for i := range box {
		f, err := strconv.ParseFloat(string(m[i+1]), 64)
		if err != nil || f != float64(int(f)) {
			return nil, fmt.Errorf("svg: viewBox value %q is not a whole number", m[i+1])
		}
		box[i] = int(f)
	}
	w, h := box[2], box[3]
	if w <= 0 || h <= 0 || w > 4096 || h > 4096 {
		return nil, fmt.Errorf("svg: viewBox %dx%d out of range", w, h)
	}
	dark := make([]bool, w*h)
	for _, pm := range pathRe.FindAllSubmatch(data, -1) {
		if f := fillRe.FindSubmatch(pm[0]); f != nil && isLight(string(f[1])) {
			continue // a background drawn as a path
		}
		polys, err := parsePath(string(pm[1]))
		if err != nil {
			return nil, err
		}
		fill(dark, w, h, box[0], box[1], polys)
	}
	img := image.NewGray(image.Rect(0, 0, w*scale, h*scale))
	for y := 0; y < h*scale; y++ {
		for x := 0; x < w*scale; x++ {
			c := color.Gray{Y: 255}
			if dark[(y/scale)*w+x/scale] {
				c.Y = 0
			}
			img.SetGray(x, y, c)
		}
	}
	return img, nil
}

func isLight(fill string) bool {
	switch strings.ToLower(fill) {
	case "#fff", "#ffffff", "white", "none":
		return true
	}
	return false
}

type point struct{ x, y float64 }

// parsePath reads M/m, L/l, H/h, V/v and Z/z commands into closed polygons.
func parsePath(d string) ([][]point, error) {
	toks := tokenize(d)
	var polys [][]point
	var cur []point
	var pos, start point
	cmd := byte(0)
	num := func(i *int) (float64, error) {
		if *i >= len(toks) {
			return 0, errors.New("svg path: missing number")
		}
		f, err := strconv.ParseFloat(toks[*i], 64)
		if err != nil {
			return 0, fmt.Errorf("svg path: %q is not a number", toks[*i])
		}
		*i++
		return f, nil
	}
	for i := 0; i < len(toks); {
		t := toks[i]
		if len(t) == 1 && strings.ContainsAny(t, "MmLlHhVvZz") {
			cmd = t[0]
			i++
			if cmd == 'Z' || cmd == 'z' {
				if len(cur) > 0 {
					polys = append(polys, cur)
				}
				cur, pos = nil, start
			}
			continue
		}
		switch cmd {
		case 'M', 'm', 'L', 'l':
			x, err := num(&i)
			if err != nil {
				return nil, err
			}
			y, err := num(&i)
			if err != nil {
				return nil, err
			}
			if cmd == 'm' || cmd == 'l' {
				x, y = pos.x+x, pos.y+y
			}
			pos = point{x, y}
			if cmd == 'M' || cmd == 'm' {
				if len(cur) > 0 {
					polys = append(polys, cur)
				}
				cur, start = []point{pos}, pos
				cmd = map[byte]byte{'M': 'L', 'm': 'l'}[cmd] // further pairs are line-tos
			} else {
				cur = append(cur, pos)
			}
		case 'H', 'h', 'V', 'v':
			v, err := num(&i)
			if err != nil {
				return nil, err
			}
			switch cmd {
			case 'H':
				pos.x = v
			case 'h':
				pos.x += v
			case 'V':
				pos.y = v
			case 'v':
				pos.y += v
			}
			cur = append(cur, pos)
		default:
			return nil, fmt.Errorf("svg path: unsupported token %q", t)
		}
	}
	if len(cur) > 0 {
		polys = append(polys, cur)
	}
	return polys, nil
}

func tokenize(d string) []string {
	var toks []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			toks = append(toks, b.String())
			b.Reset()
		}
	}
	for _, r := range d {
		switch {
		case strings.ContainsRune("MmLlHhVvZz", r):
			flush()
			toks = append(toks, string(r))
		case r == ' ' || r == ',' || r == '\n' || r == '\t':
			flush()
		case r == '-' && b.Len() > 0:
			flush()
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	flush()
	return toks
}

// fill marks each grid cell whose centre lies inside the polygons of one path (even-odd rule), one scan
// line per row: the crossings of the row's centre line with every edge, sorted, bound the inside spans.
func fill(dark []bool, w, h, ox, oy int, polys [][]point) {
	var xs []float64
	for y := 0; y < h; y++ {
		cy := float64(oy+y) + 0.5
		xs = xs[:0]
		for _, p := range polys {
			for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
				a, b := p[i], p[j]
				if (a.y > cy) != (b.y > cy) {
					xs = append(xs, (b.x-a.x)*(cy-a.y)/(b.y-a.y)+a.x)
				}
			}
		}
		sort.Float64s(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			for x := 0; x < w; x++ {
				if cx := float64(ox+x) + 0.5; cx > xs[k] && cx < xs[k+1] {
					dark[y*w+x] = true
				}
			}
		}
	}
}
