package delivery

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error // every error also satisfies errors.Is(err, ErrMalformed)
	}{
		{"empty body", ``, ErrMalformed},
		{"truncated", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"1"}`, ErrMalformed},
		{"trailing garbage", page(``) + `x`, ErrMalformed},
		{"null", `null`, ErrMalformed},
		{"no object", `{"entry":[]}`, ErrMalformed},
		{"body is an array", `[{"object":"page"}]`, ErrMalformed},
		{"object is a number", `{"object":1,"entry":[]}`, ErrMalformed},
		{"entry is an object", `{"object":"page","entry":{"id":"1"}}`, ErrMalformed},
		{"entry element is a string", `{"object":"page","entry":["1"]}`, ErrMalformed},
		{"messaging is a string", `{"object":"page","entry":[{"id":"1","messaging":"x"}]}`, ErrMalformed},
		{"standby is an object", `{"object":"page","entry":[{"id":"1","standby":{"sender":{}}}]}`, ErrMalformed},
		{"invalid escape", page(`{"referral":{"ref":"\x"}}`), ErrMalformed},
		{"too deep", `{"object":"page","x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ErrTooDeep},
		{"too many events", page(strings.TrimSuffix(strings.Repeat(`{},`, DefaultMaxEvents+1), ",")), ErrTooManyEvents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.body))
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want %v", d, err, tt.want)
			}
			if d != nil {
				t.Errorf("got a delivery with the error: %+v", d)
			}
		})
	}
}

func TestParseErrorNamesThePath(t *testing.T) {
	_, err := Parse([]byte(`{"object":"page","entry":[{"id":"1","messaging":"GET_STARTED"}]}`))
	if got, want := fmt.Sprint(err), "delivery: malformed body: entry.messaging is a JSON string"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// events returns n referral events, comma-separated, from distinct senders.
func events(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sender":{"id":"%d"},"recipient":{"id":"1234567890"},"timestamp":%d,"referral":{"ref":"r%d","source":"SHORTLINK","type":"OPEN_THREAD"}}`,
			1000+i, tsMs+i, i%7)
	}
	return b.String()
}

func TestParseBatchOf1000(t *testing.T) {
	d, err := Parse([]byte(page(events(1000))))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1000 {
		t.Fatalf("got %d events, want 1000", len(d.Events))
	}
	seen := make(map[[16]byte]bool)
	for i, e := range d.Events {
		if want := fmt.Sprint(1000 + i); e.SenderID != want {
			t.Fatalf("event %d from %q, want %q: order lost", i, e.SenderID, want)
		}
		if seen[e.Fingerprint] {
			t.Fatalf("event %d repeats a fingerprint", i)
		}
		seen[e.Fingerprint] = true
	}
}

func TestParseLimits(t *testing.T) {
	lim := Limits{MaxEvents: 5, MaxDepth: 8}
	tests := []struct {
		name string
		body string
		want error
	}{
		{"at the event limit", page(events(5)), nil},
		{"one event over", page(events(6)), ErrTooManyEvents},
		// Entries share the limit: 3 + 3 across two entries is over 5.
		{"over across entries", `{"object":"page","entry":[{"messaging":[` + events(3) + `]},{"standby":[` + events(3) + `]}]}`, ErrTooManyEvents},
		{"empty arrays count nothing", `{"object":"page","entry":[{"messaging":[ ]},{"standby":[]}]}`, nil},
		{"at the depth limit", `{"object":"page","x":[[[[[[[]]]]]]]}`, nil},
		{"one level over", `{"object":"page","x":[[[[[[[[]]]]]]]]}`, ErrTooDeep},
		{"brackets inside strings do not count", page(`{"referral":{"ref":"[[[[[[[[[[\"[[[[[[[[\\"}}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWithLimits([]byte(tt.body), lim)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("ParseWithLimits = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRejectsTenThousandAndOneEvents(t *testing.T) {
	_, err := Parse([]byte(page(events(DefaultMaxEvents + 1))))
	if !errors.Is(err, ErrTooManyEvents) {
		t.Fatalf("Parse = %v, want ErrTooManyEvents", err)
	}
	d, err := Parse([]byte(page(events(DefaultMaxEvents))))
	if err != nil || len(d.Events) != DefaultMaxEvents {
		t.Fatalf("Parse at the limit: %v", err)
	}
}

// A depth bomb is refused by the prescan, before encoding/json recurses into it: the body below is
// megabytes long, yet only its first few hundred bytes are looked at.
func TestParseDepthBombIsFast(t *testing.T) {
	const n = 5 << 20
	body := []byte(`{"object":"page","entry":[{"messaging":[` + strings.Repeat("[", n) + strings.Repeat("]", n) + `]}]}`)
	start := time.Now()
	_, err := Parse(body)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Parse = %v, want ErrTooDeep", err)
	}
	// Generous for a shared machine; encoding/json needs seconds for this input.
	if elapsed > 100*time.Millisecond {
		t.Errorf("rejecting the depth bomb took %v", elapsed)
	}
}

func TestStringEnd(t *testing.T) {
	for _, tt := range []struct {
		in   string // contents after the opening quote
		want int
	}{
		{`abc"`, 3},
		{`a\"b"`, 4},
		{`a\\"b"`, 3},
		{`\\\"x"`, 5},
		{`unterminated`, 12},
		{`unterminated\"`, 14},
	} {
		if got := stringEnd([]byte(tt.in), 0); got != tt.want {
			t.Errorf("stringEnd(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
