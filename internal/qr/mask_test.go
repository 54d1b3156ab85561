package qr

import (
	"math/rand/v2"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
)

// The mask chosen on bit lines is the one piglig's own search picks, so the
// symbols are the same module for module: over every version, every level,
// and contents that make both plain and pattern-rich data.
func TestRemaskMatchesPiglig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{
		"0123456789",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $%*+-./:",
		"abcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%",
		"\x00\xff\x80\x7f",
	}
	var contents []string
	for _, size := range []int{1, 5, 17, 25, 50, 76, 120, 250, 400, 700, 1000, 1500, 2200, 2900} {
		for _, alphabet := range alphabets {
			var b strings.Builder
			for range size {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
			contents = append(contents, b.String())
		}
	}
	contents = append(contents, shortURL, mediumURL, longURL, utf8URL, strings.Repeat("0", 7089), strings.Repeat("A", 4296))
	versions := map[int]bool{}
	masks := map[int]bool{}
	for _, content := range contents {
		for _, level := range []Level{L, M, Q, H} {
			for class := range versionRanges {
				if version, m, ok := checkRemask(t, content, level, class); ok {
					versions[version], masks[m] = true, true
				}
			}
		}
	}
	if len(masks) != 8 {
		t.Errorf("only masks %v were chosen; the inputs do not exercise all eight", masks)
	}
	t.Logf("%d versions, masks %v", len(versions), masks)
}

// checkRemask encodes content in the version class with piglig's own mask
// search and with remask, and fails t when the symbols differ. ok is false
// when the content does not fit the class.
func checkRemask(t *testing.T, content string, level Level, class int) (version, mask int, ok bool) {
	t.Helper()
	r := versionRanges[class]
	segs, err := segmentsFor(content, class, make([]byte, len(content)))
	if err != nil {
		t.Fatal(err)
	}
	want, err := goqr.EncodeSegments(segs, level.ecc(), r.lo, r.hi, -1, true)
	if err != nil {
		return 0, 0, false // too long for this class
	}
	q0, err := goqr.EncodeSegments(segs, level.ecc(), r.lo, r.hi, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	got, m := remask(q0)
	version = (want.Size() - 17) / 4
	if !sameModules(got, want) {
		t.Fatalf("%d bytes at %v, version %d: mask %d gives another symbol than piglig's choice", len(content), level, version, m)
	}
	return version, m, true
}

func sameModules(g *bitGrid, q *goqr.QrCode) bool {
	if g.n != q.Size() {
		return false
	}
	for y := range g.n {
		for x := range g.n {
			if g.get(x, y) != q.Module(x, y) {
				return false
			}
		}
	}
	return true
}

// Every version's function modules: the alignment centers follow the
// standard's table (spot checks, including its irregular version 32).
func TestAlignmentCenters(t *testing.T) {
	tests := map[int][]int{
		1:  nil,
		2:  {6, 18},
		7:  {6, 22, 38},
		14: {6, 26, 46, 66},
		32: {6, 34, 60, 86, 112, 138},
		40: {6, 30, 58, 86, 114, 142, 170},
	}
	for v, want := range tests {
		got := alignmentCenters(v)
		if len(got) != len(want) {
			t.Errorf("version %d: %v, want %v", v, got, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("version %d: %v, want %v", v, got, want)
				break
			}
		}
	}
}

// FuzzRemask: for any content and level, the symbol is the one piglig's own
// mask search gives.
func FuzzRemask(f *testing.F) {
	f.Add(mediumURL, 2)
	f.Add(longURL, 4)
	f.Add("0000000000000000000000000000000000000000", 1)
	f.Add("\x00\xff\xfe", 3)
	f.Fuzz(func(t *testing.T, content string, level int) {
		lv := Level(level%4 + 1)
		if lv < L || content == "" || len(content) > 2953 {
			return
		}
		for class := range versionRanges {
			if _, _, ok := checkRemask(t, content, lv, class); ok {
				return
			}
		}
	})
}
