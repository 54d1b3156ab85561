package qr

import (
	"testing"

	goqr "github.com/piglig/go-qr"
	qrcode "github.com/skip2/go-qrcode"
)

func TestScratchSizes(t *testing.T) {
	for _, u := range []string{shortURL, mediumURL, longURL,
		"https://mme.link/r/12345678901234567890123456789",
		"HTTPS://MME.LINK/R/ABCDEF0123456789",
		"https://mme.link/R/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJ",
		"https://example.com/caf%C3%A9/%E6%97%A5%E6%9C%AC?q=%F0%9F%98%80",
		"https://example.com/?id=000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
	} {
		for _, lv := range []Level{L, M, Q, H} {
			s, _ := qrcode.New(u, lv.skip2())
			s.DisableBorder = true
			p, _ := goqr.EncodeText(u, goqr.Ecc(lv-1))
			segs, err := goqr.MakeSegmentsOptimally(u, goqr.Ecc(lv-1), 1, 40)
			if err != nil {
				t.Fatal(err)
			}
			po, _ := goqr.EncodeStandardSegments(segs, goqr.Ecc(lv-1))
			t.Logf("%v %3d skip2=%d piglig=%d pigopt=%d %.40s", lv, len(u), len(s.Bitmap()), p.Size(), po.Size(), u)
		}
	}
}

func BenchmarkScratchOpt(b *testing.B) {
	for _, in := range benchInputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				segs, _ := goqr.MakeSegmentsOptimally(in.url, goqr.Medium, 1, 40)
				goqr.EncodeStandardSegments(segs, goqr.Medium)
			}
		})
	}
}
