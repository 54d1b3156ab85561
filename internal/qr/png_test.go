package qr

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"testing"
)

func TestPNGGeometry(t *testing.T) {
	for _, tc := range []struct {
		url string
		o   Options
	}{
		{mediumURL, DefaultOptions()},
		{mediumURL, Options{Size: 64, Level: M, QuietZone: 0}},  // 64/33: 1 px, margin 15+16
		{mediumURL, Options{Size: 100, Level: L, QuietZone: 1}}, // odd remainder
		{shortURL, Options{Size: 2048, Level: H, QuietZone: 16}},
		{longURL, Options{Size: 999, Level: Q, QuietZone: 4}},
	} {
		c := mustEncode(t, tc.url, tc.o)
		data, err := c.PNG()
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%+v: png.Decode: %v", tc.o, err)
		}
		if b := img.Bounds(); b != image.Rect(0, 0, tc.o.Size, tc.o.Size) {
			t.Fatalf("%+v: bounds %v, want %dx%d", tc.o, b, tc.o.Size, tc.o.Size)
		}
		// The documented geometry: whole pixels per module, remainder split
		// into the margin (the extra pixel, if odd, after the symbol).
		total := c.Modules() + 2*tc.o.QuietZone
		scale := tc.o.Size / total
		origin := (tc.o.Size-scale*total)/2 + tc.o.QuietZone*scale
		end := origin + c.Modules()*scale
		for py := range tc.o.Size {
			for px := range tc.o.Size {
				inSymbol := px >= origin && px < end && py >= origin && py < end
				want := color.Gray{Y: 255}
				if inSymbol && c.Dark((px-origin)/scale, (py-origin)/scale) {
					want = color.Gray{Y: 0}
				}
				if got := color.GrayModel.Convert(img.At(px, py)); got != want {
					where := "symbol"
					if !inSymbol {
						where = "quiet zone/margin"
					}
					t.Fatalf("%+v: pixel (%d,%d) in %s = %v, want %v", tc.o, px, py, where, got, want)
				}
			}
		}
	}
}

// The file is 1-bit grayscale and holds only the chunks needed to display
// it: no time stamp or other metadata that could vary between runs.
func TestPNGFormat(t *testing.T) {
	data, err := mustEncode(t, mediumURL, DefaultOptions()).PNG()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, pngSignature) {
		t.Fatalf("no PNG signature")
	}
	var chunks []string
	for rest := data[len(pngSignature):]; len(rest) >= 12; {
		n := int(binary.BigEndian.Uint32(rest))
		chunks = append(chunks, string(rest[4:8]))
		if string(rest[4:8]) == "IHDR" && (rest[16] != 1 || rest[17] != 0) {
			t.Errorf("bit depth %d, colour type %d; want 1-bit grayscale", rest[16], rest[17])
		}
		rest = rest[12+n:]
	}
	if got := len(chunks); got != 3 || chunks[0] != "IHDR" || chunks[1] != "IDAT" || chunks[2] != "IEND" {
		t.Errorf("chunks %v, want [IHDR IDAT IEND]", chunks)
	}
	if len(data) > 1024 {
		t.Errorf("256 px PNG of a 50-byte URL is %d bytes, want <= 1 KiB", len(data))
	}
}

func TestClearBits(t *testing.T) {
	for from := range 20 {
		for to := from; to <= 24; to++ {
			px := []byte{0xff, 0xff, 0xff}
			clearBits(px, from, to)
			for i := range 24 {
				black := px[i/8]&(0x80>>(i%8)) == 0
				if black != (i >= from && i < to) {
					t.Fatalf("clearBits(%d, %d): bit %d black=%v (%08b)", from, to, i, black, px)
				}
			}
		}
	}
}

// toImage draws the code as image/png would need it.
func toImage(c *Code, paletted bool) image.Image {
	size, g := c.opts.Size, c.layout()
	rect := image.Rect(0, 0, size, size)
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if paletted {
		img = image.NewPaletted(rect, color.Palette{color.White, color.Black})
	} else {
		gray := image.NewGray(rect)
		for i := range gray.Pix {
			gray.Pix[i] = 0xff
		}
		img = gray
	}
	for y := range c.n {
		for x := range c.n {
			if !c.Dark(x, y) {
				continue
			}
			for py := g.origin + y*g.scale; py < g.origin+(y+1)*g.scale; py++ {
				for px := g.origin + x*g.scale; px < g.origin+(x+1)*g.scale; px++ {
					img.Set(px, py, color.Black)
				}
			}
		}
	}
	return img
}

type pngPool struct{ b *png.EncoderBuffer }

func (p *pngPool) Get() *png.EncoderBuffer  { return p.b }
func (p *pngPool) Put(b *png.EncoderBuffer) { p.b = b }

// BenchmarkPNGStdlib is the baseline for png.go: image/png with its best
// settings (fastest compression, reused encoder buffers), on an already
// drawn image, i.e. not counting the drawing. The paletted image is written
// at 1 bit per pixel as well.
func BenchmarkPNGStdlib(b *testing.B) {
	c := mustEncode(b, mediumURL, DefaultOptions())
	for _, kind := range []string{"gray8", "paletted1"} {
		img := toImage(c, kind == "paletted1")
		b.Run(kind, func(b *testing.B) {
			enc := png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(&buf, img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}
