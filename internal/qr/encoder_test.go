package qr

import (
	"testing"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	zxenc "github.com/makiuchi-d/gozxing/qrcode/encoder"
	goqr "github.com/piglig/go-qr"
	qrcode "github.com/skip2/go-qrcode"
)

// BenchmarkMatrix compares the candidate encoders on the step this package
// delegates: content to module matrix, level M, no quiet zone, no image.
// "modules" is the symbol edge each one picks (smaller scans more easily).
//
// Measured on the 2-core build machine (go1.26, -benchtime 1s):
//
//	                  short (25 B)          medium (50 B)         long (1000 B)
//	skip2            ~85 µs, 21 mod       ~116 µs, 29 mod       ~2.6 ms, 105 mod
//	piglig v1.1.0   ~160 µs, 25 mod       ~205 µs, 29 mod       ~3.4 ms, 105 mod
//	gozxing v0.1.1  ~150 µs, 25 mod       ~200 µs, 29 mod       ~3.3 ms, 105 mod
//
// skip2 wins on time and, thanks to mixed-mode segments, on symbol size for
// the short URL; it is unmaintained but frozen, small and dependency-free,
// and every image it produces is decoded back in the tests.
func BenchmarkMatrix(b *testing.B) {
	for _, in := range benchInputs {
		b.Run("skip2/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				q, err := qrcode.New(in.url, qrcode.Medium)
				if err != nil {
					b.Fatal(err)
				}
				q.DisableBorder = true
				n = len(q.Bitmap())
			}
			b.ReportMetric(float64(n), "modules")
		})
		b.Run("piglig/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				q, err := goqr.EncodeText(in.url, goqr.Medium)
				if err != nil {
					b.Fatal(err)
				}
				n = q.Size()
			}
			b.ReportMetric(float64(n), "modules")
		})
		b.Run("gozxing/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				q, err := zxenc.Encoder_encode(in.url, decoder.ErrorCorrectionLevel_M, nil)
				if err != nil {
					b.Fatal(err)
				}
				n = q.GetMatrix().GetWidth()
			}
			b.ReportMetric(float64(n), "modules")
		})
	}
}
