package qr

import (
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
	qrcode "github.com/skip2/go-qrcode"
)

func TestOptimalModes(t *testing.T) {
	letters := [numModes]byte{modeByte: 'B', modeAlnum: 'A', modeNumeric: 'N'}
	for _, tc := range []struct {
		in, want string
		class    int
	}{
		{"12345", "NNNNN", 0},
		{"HELLO WORLD", "AAAAAAAAAAA", 0},
		{"hello", "BBBBB", 0},
		{"a1b", "BBB", 0}, // a switch costs more than it saves
		{"https://mme.link/r/123456789012345678901234567890",
			strings.Repeat("B", 19) + strings.Repeat("N", 30), 0},
		{"HTTPS://MME.LINK/R/ABC123", strings.Repeat("A", 25), 0},
		// Alphanumeric runs only pay off when long enough.
		{"x" + strings.Repeat("AB", 10), "B" + strings.Repeat("A", 20), 0},
		{"xAB", "BBB", 0},
		// Wider count fields (version 27+) make switching dearer: six digits
		// in the middle save 20 bits, which pays for a numeric and a byte
		// header of 14 and 12 bits in versions 1-9, not of 18 and 20 bits.
		{"a123456b", "BNNNNNNB", 0},
		{"a123456b", "BBBBBBBB", 2},
		{"a12345b", "BBBBBBB", 0},
	} {
		modes := make([]byte, len(tc.in))
		optimalModes(tc.in, tc.class, modes)
		got := make([]byte, len(modes))
		for i, m := range modes {
			got[i] = letters[m]
		}
		if string(got) != tc.want {
			t.Errorf("optimalModes(%q, class %d) = %s, want %s", tc.in, tc.class, got, tc.want)
		}
	}
}

// segment.go exists because piglig's single-mode segments make symbols
// larger than skip2's; this keeps the two encoders' trade-off honest.
func TestSymbolNoLargerThanSkip2(t *testing.T) {
	urls := []string{shortURL, mediumURL, longURL, unicodeURL,
		"https://mme.link/r/123456789012345678901234567890",
		"HTTPS://MME.LINK/R/ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
		"https://example.com/?id=" + strings.Repeat("0123456789", 8),
		"https://mme.link/R/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJ",
	}
	smaller := 0
	for _, u := range urls {
		for _, lv := range []Level{L, M, Q, H} {
			c := mustEncode(t, u, Options{Size: MaxSize, Level: lv, QuietZone: 0})
			s, err := qrcode.New(u, qrcode.RecoveryLevel(lv-L)) // Low..Highest
			if err != nil {
				t.Fatal(err)
			}
			if c.Version() > s.VersionNumber {
				t.Errorf("%.40q at %v: version %d, skip2 %d", u, lv, c.Version(), s.VersionNumber)
			}
			p, err := goqr.EncodeText(u, lv.ecc())
			if err != nil {
				t.Fatal(err)
			}
			if c.Modules() > p.Size() {
				t.Errorf("%.40q at %v: %d modules, piglig alone %d", u, lv, c.Modules(), p.Size())
			}
			if c.Modules() < p.Size() {
				smaller++
			}
		}
	}
	if smaller == 0 {
		t.Errorf("mixed segments never beat piglig's single-mode segments")
	}
}

// Random mixes of digits, upper and lower case exercise every mode switch;
// the matrix must decode to the input.
func TestSegmentationRoundTrip(t *testing.T) {
	classes := []string{"0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", "abcdefxyz?&=_~", "é€"}
	x := uint32(12345)
	next := func(n int) int {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return int(x % uint32(n))
	}
	for i := range 300 {
		var sb strings.Builder
		for sb.Len() < 1+next(120) {
			class := classes[next(len(classes))]
			for range 1 + next(25) {
				if class == "é€" {
					sb.WriteString([]string{"é", "€"}[next(2)])
				} else {
					sb.WriteByte(class[next(len(class))])
				}
			}
		}
		in := sb.String()
		lv := Level(1 + next(4))
		c := mustEncode(t, in, Options{Size: MaxSize, Level: lv, QuietZone: 4})
		if got := decodeMatrix(t, c).GetText(); got != in {
			t.Fatalf("input %d at %v: decoded %q, want %q", i, lv, got, in)
		}
	}
}
