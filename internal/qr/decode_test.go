package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Round trips: every image this package makes must decode, with an
// independent decoder, to exactly the encoded content.

var (
	// unicodeURL is a non-ASCII URL in its percent-encoded (wire) form.
	unicodeURL = "https://mmelink.example.com/caf%C3%A9/%E6%97%A5%E6%9C%AC?q=%F0%9F%98%80"
	// utf8URL is the same as an IRI: raw UTF-8 bytes, which scanners guess.
	utf8URL = "https://mmelink.example.com/café/日本?q=😀"
)

// decodeImage reads a QR code from img with gozxing. With pure set, it
// assumes an axis-aligned symbol with square modules and reads the grid
// directly; without, it first has to find the finder patterns, as a camera
// scan does.
//
// The round trips use pure mode: gozxing's finder-pattern detector misses
// some perfectly clean symbols whose data happens to resemble finder
// patterns (measured over 600 URLs x levels at 512 px: 2% of this package's
// symbols, 4.5% of skip2's), which would make the tests depend on the
// detector's heuristics rather than on the output. TestDetectorFinds covers
// the detector path on the typical case.
func decodeImage(img image.Image, pure bool) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("binarize: %w", err)
	}
	hints := map[gozxing.DecodeHintType]any{}
	if pure {
		hints[gozxing.DecodeHintType_PURE_BARCODE] = true
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", fmt.Errorf("decode (pure=%v): %w", pure, err)
	}
	return res.GetText(), nil
}

func decodePNG(data []byte, pure bool) (string, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("png.Decode: %w", err)
	}
	return decodeImage(img, pure)
}

// TestDetectorFinds checks that typical codes are found without hints.
func TestDetectorFinds(t *testing.T) {
	for _, tc := range []struct {
		url string
		o   Options
	}{
		{shortURL, DefaultOptions()},
		{mediumURL, DefaultOptions()},
		{mediumURL, Options{Size: 512, Level: L, QuietZone: 4}},
		{unicodeURL, Options{Size: 512, Level: H, QuietZone: 2}},
	} {
		png, svg, err := Render(tc.url, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodePNG(png, false); err != nil || got != tc.url {
			t.Errorf("PNG %+v: got %q, %v; want %q", tc.o, got, err, tc.url)
		}
		img, err := rasterizeSVG(svg)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := decodeImage(img, false); err != nil || got != tc.url {
			t.Errorf("SVG %+v: got %q, %v; want %q", tc.o, got, err, tc.url)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	urls := map[string]string{
		"short": shortURL, "medium": mediumURL, "1000": longURL,
		"percent": unicodeURL, "utf8": utf8URL,
		"digits": "https://mme.link/r/123456789012345678901234567890",
		"upper":  "HTTPS://MME.LINK/R/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
	}
	type tc struct {
		url   string
		o     Options
		name  string
		error error
	}
	var cases []tc
	add := func(urlName string, o Options, err error) {
		cases = append(cases, tc{urls[urlName], o,
			fmt.Sprintf("%s/%v/%dpx/qz%d", urlName, o.Level, o.Size, o.QuietZone), err})
	}
	// Every URL at every level, default size and quiet zone.
	for _, name := range []string{"short", "medium", "1000", "percent", "utf8", "digits", "upper"} {
		for _, lv := range []Level{L, M, Q, H} {
			add(name, Options{Size: 256, Level: lv, QuietZone: 4}, nil)
		}
	}
	// Sizes (including ones that do not divide evenly) x quiet zones.
	for _, size := range []int{64, 100, 333, 1024, 2048} {
		for _, qz := range []int{0, 1, 4, 15} { // 16 is too wide at 64 px
			add("medium", Options{Size: size, Level: M, QuietZone: qz}, nil)
		}
	}
	add("1000", Options{Size: 1000, Level: H, QuietZone: 16}, nil)
	add("1000", Options{Size: 2048, Level: L, QuietZone: 0}, nil)
	add("short", Options{Size: 64, Level: L, QuietZone: 16}, nil) // 1 px per module
	// Too small for the symbol at 1 px per module.
	add("1000", Options{Size: 64, Level: M, QuietZone: 4}, ErrSizeTooSmall)
	add("medium", Options{Size: 64, Level: H, QuietZone: 16}, ErrSizeTooSmall)
	add("medium", Options{Size: 64, Level: M, QuietZone: 16}, ErrSizeTooSmall) // 65 modules

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pngData, svgData, err := Render(tc.url, tc.o)
			if tc.error != nil {
				if !errors.Is(err, tc.error) {
					t.Fatalf("Render: err = %v, want %v", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got, err := decodePNG(pngData, true); err != nil || got != tc.url {
				t.Errorf("PNG decodes to %q, %v; want %q", got, err, tc.url)
			}

			svgImg, err := rasterizeSVG(svgData)
			if err != nil {
				t.Fatalf("rasterize SVG: %v", err)
			}
			if got, err := decodeImage(svgImg, true); err != nil || got != tc.url {
				t.Errorf("SVG decodes to %q, %v; want %q", got, err, tc.url)
			}
		})
	}
}
