package qr

import (
	"bytes"
	"errors"
	"image/png"
	"testing"
)

// FuzzEncode: no input panics; an error is one of the documented ones; a
// success renders a PNG of exactly Size pixels and a parseable SVG.
func FuzzEncode(f *testing.F) {
	f.Add(mediumURL, 256, 2, 4)
	f.Add(shortURL, 64, 4, 16)
	f.Add(utf8URL, 100, 1, 0)
	f.Add("", 256, 2, 4)
	f.Add("\x00\xff\xfe", 2048, 3, 1)
	f.Add("0123456789", -1, 0, -5)
	f.Add(longURL, 300, 4, 17)
	f.Fuzz(func(t *testing.T, content string, size, level, quiet int) {
		o := Options{Size: size, Level: Level(level), QuietZone: quiet}
		c, err := Encode(content, o)
		if err != nil {
			known := []error{ErrInvalidLevel, ErrInvalidSize, ErrInvalidQuietZone, ErrEmptyContent, ErrTooLong, ErrSizeTooSmall}
			for _, k := range known {
				if errors.Is(err, k) {
					return
				}
			}
			t.Fatalf("Encode(%q, %+v): undocumented error %v", content, o, err)
		}
		data, err := c.PNG()
		if err != nil {
			t.Fatalf("PNG: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("png.Decode: %v", err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("PNG is %v, want %d px", b, size)
		}
		if w, grid, err := parseSVG(c.SVG()); err != nil || w != size || len(grid) != c.Modules()+2*quiet {
			t.Fatalf("SVG: width %d, %d modules, %v", w, len(grid), err)
		}
	})
}
