package sketch

import (
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, n := range []int{0, 1, 10, 3_000} {
		f.Add(sketchOf(0, 0, n).String())
	}
	f.Add("AQzBkgY")
	f.Add("AgwA")
	f.Add("AQyAgBA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Whatever was accepted re-encodes to a form that decodes to the same registers, no longer
		// than the dense form.
		again, err := Parse(h.String())
		if err != nil || !again.Equal(h) {
			t.Fatalf("re-encoding %q: %v", s, err)
		}
		if len(h.String()) > encoding.EncodedLen(denseLen) {
			t.Fatalf("re-encoded to %d characters", len(h.String()))
		}
		_ = h.Estimate()
	})
}
