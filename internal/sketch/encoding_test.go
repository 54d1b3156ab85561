package sketch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEncodingRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		n          int
		wantFormat byte
	}{
		{0, formatSparse},
		{1, formatSparse},
		{10, formatSparse},
		{1_000, formatSparse},
		{3_000, formatSparse},
		{4_000, formatDense},
		{100_000, formatDense},
	} {
		h := sketchOf(0, 0, tt.n)
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != tt.wantFormat {
			t.Errorf("n=%d: format %#x, want %#x", tt.n, b[0], tt.wantFormat)
		}
		var fromBinary HLL
		if err := fromBinary.UnmarshalBinary(b); err != nil || !fromBinary.Equal(h) {
			t.Errorf("n=%d: binary round trip: %v", tt.n, err)
		}
		fromText, err := Parse(h.String())
		if err != nil || !fromText.Equal(h) {
			t.Errorf("n=%d: text round trip: %v", tt.n, err)
		}
	}
}

func TestEncodedSize(t *testing.T) {
	for _, tt := range []struct {
		n        int
		maxChars int
	}{
		{0, 3},
		{10, 100}, // a link that reached a handful of people stores a few dozen characters
		{100, 300},
		{1_000_000, 4_099}, // dense: 3,074 bytes, the bound for any number of people
	} {
		if got := len(sketchOf(0, 0, tt.n).String()); got > tt.maxChars {
			t.Errorf("n=%d: %d characters, want at most %d", tt.n, got, tt.maxChars)
		}
	}
}

// Stored sketches must stay readable by later releases: these encodings are pinned.
func TestEncodingIsPinned(t *testing.T) {
	h := New()
	h.Add("6543210987654321") // xxh64 0x625dec05160d5d81: register 0x625 = 1573, rank 1
	if got, want := h.String(), "AQzBkgY"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := New().String(), "AQw"; got != want {
		t.Errorf("empty String() = %q, want %q", got, want)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	dense := make([]byte, denseLen)
	dense[0], dense[1] = formatDense, Precision
	tooHigh := append([]byte(nil), dense...)
	tooHigh[2] = 0xff // first register 63 > maxRank

	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"header cut short", []byte{formatSparse}},
		{"unknown format", []byte{0x03, Precision}},
		{"other precision", []byte{formatSparse, 14}},
		{"truncated varint", []byte{formatSparse, Precision, 0x80}},
		{"overflowing varint", append([]byte{formatSparse, Precision}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"zero delta", []byte{formatSparse, Precision, 0x01, 0x00}},
		{"empty register listed", []byte{formatSparse, Precision, 0x40}}, // index 1, value 0
		{"same register twice", []byte{formatSparse, Precision, 0x41, 0x01}},
		{"value over the maximum", []byte{formatSparse, Precision, 54}},
		{"index past the end", []byte{formatSparse, Precision, 0x80, 0x80, 0x10}}, // 4096<<6
		{"dense too short", dense[:len(dense)-1]},
		{"dense too long", append(append([]byte(nil), dense...), 0)},
		{"dense value over the maximum", tooHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sketchOf(0, 0, 10)
			before := *h
			if err := h.UnmarshalBinary(tt.data); !errors.Is(err, ErrMalformed) {
				t.Fatalf("UnmarshalBinary = %v, want ErrMalformed", err)
			}
			if !h.Equal(&before) {
				t.Error("a failed decode changed the sketch")
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"AQw=", // padded: the form is unpadded
		"AQ w", // not base64
		"AQ+/", // standard alphabet, not URL
		"Aw",   // decodes to one byte
		strings.Repeat("A", 4_100),
	} {
		if h, err := Parse(s); !errors.Is(err, ErrMalformed) || h != nil {
			t.Errorf("Parse(%.20q) = %v, %v; want ErrMalformed", s, h, err)
		}
	}
}

func TestJSON(t *testing.T) {
	type status struct {
		People *HLL `json:"people"`
	}
	in := status{People: sketchOf(0, 0, 3)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"people":"AQ`) {
		t.Errorf("JSON = %s, want the String form", b)
	}
	var out status
	if err := json.Unmarshal(b, &out); err != nil || !out.People.Equal(in.People) {
		t.Errorf("JSON round trip: %v", err)
	}
}

// MarshalBinary sizes the sparse form before writing it; the two must agree at every size, including
// either side of the switch to dense.
func TestSparseLen(t *testing.T) {
	h := New()
	for i := range 5_000 {
		h.Add(psid(3, i))
		b, _ := h.MarshalBinary()
		if sparse := len(h.appendSparse(nil)); min(sparse, denseLen) != len(b) || h.sparseLen() != min(sparse, denseLen) {
			t.Fatalf("after %d ids: sparseLen %d, sparse form %d bytes, encoded %d bytes", i+1, h.sparseLen(), sparse, len(b))
		}
	}
}
