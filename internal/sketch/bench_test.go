package sketch

import (
	"fmt"
	"testing"
)

func BenchmarkAdd(b *testing.B) {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = psid(0, i)
	}
	h := New()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add(ids[i&1023])
		i++
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		h := sketchOf(0, 0, n)
		b.Run(fmt.Sprintf("people=%d/binary", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("people=%d/string", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.String()
			}
		})
		s := h.String()
		b.Run(fmt.Sprintf("people=%d/parse", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEstimate(b *testing.B) {
	h := sketchOf(0, 0, 100_000)
	for b.Loop() {
		_ = h.Estimate()
	}
}
