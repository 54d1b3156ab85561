package sketch

import (
	"math"
	"strconv"
	"testing"
)

// psid returns the i-th of a family of page-scoped IDs: 16 digits, sequential, which is as structured
// (and as hard on a weak hash) as real PSIDs get.
func psid(family, i int) string {
	return strconv.Itoa(6_543_210_000_000_000 + family*100_000_000 + i)
}

// sketchOf returns a sketch of ids [from, to) of a family.
func sketchOf(family, from, to int) *HLL {
	h := New()
	for i := from; i < to; i++ {
		h.Add(psid(family, i))
	}
	return h
}

func TestEstimateWithinThreeStandardErrors(t *testing.T) {
	for _, n := range []int{0, 1, 10, 1_000, 100_000} {
		got := sketchOf(0, 0, n).Estimate()
		tolerance := 3 * StandardError * float64(n)
		if math.Abs(float64(got)-float64(n)) > tolerance {
			t.Errorf("n=%d: estimate %d, want within ±%.1f", n, got, tolerance)
		}
	}
}

// The classic estimator switches from linear counting to the raw estimate at 2.5 × 4,096 and is biased
// by about +2% just past that point; the estimator used here must not be. Averaging 40 sketches per
// size brings the noise of the mean down to 1.6%/√40 ≈ 0.26%.
func TestEstimateIsUnbiasedAcrossTheRange(t *testing.T) {
	if testing.Short() {
		t.Skip("adds about a million ids")
	}
	const trials = 40
	for _, n := range []int{300, 5_000, 10_500, 13_000, 30_000} {
		var sum float64
		for tr := range trials {
			sum += float64(sketchOf(tr+1, 0, n).Estimate())/float64(n) - 1
		}
		if bias := sum / trials; math.Abs(bias) > 0.008 {
			t.Errorf("n=%d: mean relative error %+.4f over %d sketches, want within ±0.008", n, bias, trials)
		}
	}
}

func TestDuplicatesDoNotCount(t *testing.T) {
	h := sketchOf(0, 0, 1_000)
	before := *h
	for range 3 {
		for i := range 1_000 {
			h.Add(psid(0, i))
		}
	}
	if !h.Equal(&before) {
		t.Error("re-adding the same ids changed the registers")
	}
}

func TestMergeEqualsSketchOfUnion(t *testing.T) {
	tests := []struct {
		name           string
		a, b           [2]int // id ranges [from, to) of family 0
		wantEstimateOf int
	}{
		{"disjoint", [2]int{0, 5_000}, [2]int{5_000, 12_000}, 12_000},
		{"overlapping", [2]int{0, 8_000}, [2]int{4_000, 12_000}, 12_000},
		{"one contains the other", [2]int{0, 12_000}, [2]int{100, 200}, 12_000},
		{"with an empty sketch", [2]int{0, 0}, [2]int{0, 50}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sketchOf(0, tt.a[0], tt.a[1]), sketchOf(0, tt.b[0], tt.b[1])
			union := sketchOf(0, min(tt.a[0], tt.b[0]), max(tt.a[1], tt.b[1]))
			a.Merge(b)
			if !a.Equal(union) {
				t.Fatal("merged registers differ from the sketch of the union")
			}
			got, n := a.Estimate(), float64(tt.wantEstimateOf)
			if math.Abs(float64(got)-n) > 3*StandardError*n {
				t.Errorf("estimate of the merge %d, want about %d", got, tt.wantEstimateOf)
			}
		})
	}
}

func TestMergeIsOrderIndependent(t *testing.T) {
	a, b, c := sketchOf(0, 0, 300), sketchOf(1, 0, 300), sketchOf(2, 0, 300)
	abc, cba := New(), New()
	abc.Merge(a)
	abc.Merge(b)
	abc.Merge(c)
	cba.Merge(c)
	cba.Merge(b)
	cba.Merge(a)
	cba.Merge(nil) // no-op
	if !abc.Equal(cba) {
		t.Error("merge order changed the result")
	}
}

func TestZeroValueIsEmpty(t *testing.T) {
	var h HLL
	if got := h.Estimate(); got != 0 {
		t.Errorf("empty estimate = %d", got)
	}
	h.Add("someone")
	if got := h.Estimate(); got != 1 {
		t.Errorf("estimate after one id = %d", got)
	}
}

// sigma and tau are series; these values follow from their definitions in closed form.
func TestSigmaTau(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"sigma(0)", sigma(0), 0},
		{"sigma(0.5)", sigma(0.5), 0.5 + 0.25 + 0.0625*2 + math.Pow(0.5, 8)*4 + math.Pow(0.5, 16)*8 + math.Pow(0.5, 32)*16 + math.Pow(0.5, 64)*32},
		{"tau(0)", tau(0), 0},
		{"tau(1)", tau(1), 0},
	} {
		if math.Abs(tt.got-tt.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if !math.IsInf(sigma(1), 1) {
		t.Error("sigma(1) is not +Inf: an empty sketch would not estimate 0")
	}
}
