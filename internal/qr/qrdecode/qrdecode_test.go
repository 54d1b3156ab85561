package qrdecode

import (
	"fmt"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// The decoder is checked against codes drawn by an independent encoder, so that the operator's own
// renderer is not used to test the tool that tests it.
func TestDecodeIndependentCodes(t *testing.T) {
	urls := []string{
		"https://m.me/acme",
		"https://m.me/acme.shoes?ref=summer_sale--738--store12&text=Hi%21%20I%20saw%20your%20poster",
		"https://m.me/acme?text=" + strings.Repeat("%C3%A9", 150),
	}
	for _, url := range urls {
		q, err := qrcode.New(url, qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		png, err := q.PNG(-4)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := PNG(png); err != nil || got != url {
			t.Errorf("PNG: got %q, %v; want %q", got, err, url)
		}
		if got, err := SVG(svgOf(q.Bitmap())); err != nil || got != url {
			t.Errorf("SVG: got %q, %v; want %q", got, err, url)
		}
	}
}

func TestRejectsWhatIsNotACode(t *testing.T) {
	if _, err := PNG([]byte("not a png")); err == nil {
		t.Error("PNG accepted garbage")
	}
	if _, err := SVG([]byte(`<svg viewBox="0 0 21 21"><path d="M0 0h3v3h-3z"/></svg>`)); err == nil {
		t.Error("SVG of one square decoded as a code")
	}
	if _, err := SVG([]byte(`<svg><path d="M0 0h3v3h-3z"/></svg>`)); err == nil {
		t.Error("SVG without viewBox accepted")
	}
	if _, err := SVG([]byte(`<svg viewBox="0 0 21 21"><path d="M0 0 C 1 2 3 4"/></svg>`)); err == nil {
		t.Error("SVG with curves accepted")
	}
}

// svgOf draws a bitmap with one rectangle per dark module, in absolute and relative commands.
func svgOf(bm [][]bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d"><rect width="100%%" height="100%%" fill="#fff"/><path fill="#000" d="`, len(bm), len(bm))
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return []byte(b.String())
}
