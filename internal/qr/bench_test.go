package qr

import (
	"strings"
	"testing"
)

// Representative URLs; the lengths are asserted in TestInputLengths.
var (
	shortURL  = "https://mme.link/r/a1B2c3"                          // 25 bytes
	mediumURL = "https://mmelink.example.com/r/ns/gateway?t=Xy7Kq2P" // 50 bytes
	longURL   = makeLongURL(1000)
)

// makeLongURL returns a URL of exactly n bytes with a varied, realistic
// query string (a repeated single byte would compress and mask atypically).
func makeLongURL(n int) string {
	var sb strings.Builder
	sb.WriteString("https://mmelink.example.com/r?state=")
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	x := uint32(2463534242)
	for sb.Len() < n {
		x ^= x << 13 // xorshift: deterministic pseudo-random characters
		x ^= x >> 17
		x ^= x << 5
		sb.WriteByte(alphabet[x%uint32(len(alphabet))])
	}
	return sb.String()
}

var benchInputs = []struct{ name, url string }{
	{"short", shortURL},
	{"medium", mediumURL},
	{"1000", longURL},
}

// BenchmarkRender is the target: PNG and SVG of a 50-byte URL at 256 px,
// level M, quiet zone 4 in at most 1 ms, encoding included.
func BenchmarkRender(b *testing.B) {
	o := DefaultOptions()
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Render(in.url, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	o := DefaultOptions()
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(in.url, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPNG(b *testing.B) {
	for _, in := range benchInputs {
		c := mustEncode(b, in.url, DefaultOptions())
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				var err error
				if out, err = c.PNG(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "bytes")
		})
	}
}

func BenchmarkSVG(b *testing.B) {
	for _, in := range benchInputs {
		c := mustEncode(b, in.url, DefaultOptions())
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				out = c.SVG()
			}
			b.ReportMetric(float64(len(out)), "bytes")
		})
	}
}

func BenchmarkTerminal(b *testing.B) {
	c := mustEncode(b, mediumURL, DefaultOptions())
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Terminal()
	}
}

func mustEncode(tb testing.TB, content string, o Options) *Code {
	tb.Helper()
	c, err := Encode(content, o)
	if err != nil {
		tb.Fatalf("Encode(%d bytes, %+v): %v", len(content), o, err)
	}
	return c
}
