package qr

import (
	"testing"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	zxenc "github.com/makiuchi-d/gozxing/qrcode/encoder"
	goqr "github.com/piglig/go-qr"
	qrcode "github.com/skip2/go-qrcode"
)

// BenchmarkMatrix compares the candidate encoders on the step this package
// delegates: content to module matrix at level M, no image. "modules" is the
// symbol edge each picks. Measured on the shared 2-core build machine
// (go1.26, AMD EPYC, -benchtime 1s; absolute times vary with load, the
// ratios held across runs):
//
//	ns/op, allocs/op   short (25 B)    medium (50 B)    1000 B
//	skip2              183k, 1506      438k, 3322       9.5M, 78804
//	piglig v1.1.0       69k,   22      163k,   28       2.7M,   103
//	gozxing v0.1.1     146k,  352      359k,  765       6.8M, 12177
//
// piglig is 2.7-3.5x faster than skip2 with 20-700x fewer allocations, and
// maintained. For these URLs all three pick the same symbol; for digit- or
// uppercase-heavy URLs skip2's mixed-mode segments gave 1-3 versions
// smaller symbols than piglig's EncodeText, which segment.go fixes (see
// TestSymbolNoLargerThanSkip2). In a gozxing detection test over 600 URL x
// level symbols, 2% of piglig's and 4.5% of skip2's needed the
// pure-barcode hint (see decodeImage), so no loss there either.
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
