package qr

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"regexp"
	"strconv"
	"testing"
)

type svgDoc struct {
	XMLName        xml.Name `xml:"svg"`
	Width          int      `xml:"width,attr"`
	Height         int      `xml:"height,attr"`
	ViewBox        string   `xml:"viewBox,attr"`
	ShapeRendering string   `xml:"shape-rendering,attr"`
	Rects          []struct {
		Width  int    `xml:"width,attr"`
		Height int    `xml:"height,attr"`
		Fill   string `xml:"fill,attr"`
	} `xml:"rect"`
	Paths []struct {
		Fill string `xml:"fill,attr"`
		D    string `xml:"d,attr"`
	} `xml:"path"`
}

var svgRun = regexp.MustCompile(`^M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// parseSVG checks the document structure and returns the edge in pixels
// and the module grid (quiet zone included) painted by the path.
func parseSVG(data []byte) (size int, grid [][]bool, err error) {
	var doc svgDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return 0, nil, fmt.Errorf("not XML: %w", err)
	}
	var vw, vh int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &vw, &vh); err != nil || vw != vh || vw <= 0 {
		return 0, nil, fmt.Errorf("viewBox %q: want \"0 0 N N\"", doc.ViewBox)
	}
	switch {
	case doc.Width != doc.Height || doc.Width <= 0:
		return 0, nil, fmt.Errorf("width %d height %d", doc.Width, doc.Height)
	case doc.ShapeRendering != "crispEdges":
		return 0, nil, fmt.Errorf("shape-rendering %q", doc.ShapeRendering)
	case len(doc.Rects) != 1 || doc.Rects[0].Width != vw || doc.Rects[0].Height != vh || doc.Rects[0].Fill != "#fff":
		return 0, nil, fmt.Errorf("want one white background rect covering the viewBox, got %+v", doc.Rects)
	case len(doc.Paths) != 1 || doc.Paths[0].Fill != "#000":
		return 0, nil, fmt.Errorf("want one black path, got %d", len(doc.Paths))
	}
	grid = make([][]bool, vh)
	for y := range grid {
		grid[y] = make([]bool, vw)
	}
	for d := doc.Paths[0].D; d != ""; {
		m := svgRun.FindStringSubmatch(d)
		if m == nil {
			return 0, nil, fmt.Errorf("unexpected path data at %.30q", d)
		}
		d = d[len(m[0]):]
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		if back, _ := strconv.Atoi(m[4]); back != w || w == 0 {
			return 0, nil, fmt.Errorf("run %q does not close a w x 1 rectangle", m[0])
		}
		if y >= vh || x+w > vw {
			return 0, nil, fmt.Errorf("run %q outside the viewBox", m[0])
		}
		for i := x; i < x+w; i++ {
			if grid[y][i] {
				return 0, nil, fmt.Errorf("run %q overlaps another", m[0])
			}
			grid[y][i] = true
		}
	}
	return doc.Width, grid, nil
}

// rasterizeSVG renders the document at the whole number of pixels per
// module closest below its width. (Sampling at exactly the width would make
// modules unequal, 6 or 7 px, which gozxing's pure-barcode reader rejects
// although renderers and scanners cope.)
func rasterizeSVG(data []byte) (image.Image, error) {
	width, grid, err := parseSVG(data)
	if err != nil {
		return nil, err
	}
	n := len(grid)
	scale := max(1, width/n)
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for py := range n * scale {
		for px := range n * scale {
			if !grid[py/scale][px/scale] {
				img.SetGray(px, py, color.Gray{Y: 255})
			}
		}
	}
	return img, nil
}

func TestSVGMatchesMatrix(t *testing.T) {
	for _, qz := range []int{0, 1, 4, 16} {
		o := Options{Size: 300, Level: Q, QuietZone: qz}
		c := mustEncode(t, mediumURL, o)
		size, grid, err := parseSVG(c.SVG())
		if err != nil {
			t.Fatalf("qz %d: %v", qz, err)
		}
		if size != o.Size {
			t.Errorf("qz %d: width %d, want %d", qz, size, o.Size)
		}
		if want := c.Modules() + 2*qz; len(grid) != want {
			t.Fatalf("qz %d: viewBox %d modules, want %d (quiet zone in modules)", qz, len(grid), want)
		}
		for y := range grid {
			for x := range grid[y] {
				if grid[y][x] != c.Dark(x-qz, y-qz) {
					t.Fatalf("qz %d: module (%d,%d) = %v, matrix says %v", qz, x, y, grid[y][x], !grid[y][x])
				}
			}
		}
	}
}

// Runs must be merged: a row of the finder pattern is one 7-module rectangle.
func TestSVGMergesRuns(t *testing.T) {
	c := mustEncode(t, shortURL, DefaultOptions())
	svg := c.SVG()
	if !bytes.Contains(svg, []byte("M4 4h7v1h-7z")) {
		t.Errorf("top finder row is not a single run: %.300s", svg)
	}
	if bytes.Contains(svg, []byte("h1v1h-1zM5 4h1")) {
		t.Errorf("adjacent dark modules written separately: %.300s", svg)
	}
}
