package qr

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

func TestInputLengths(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		want int
	}{{"short", shortURL, 25}, {"medium", mediumURL, 50}, {"long", longURL, 1000}} {
		if len(tc.url) != tc.want {
			t.Errorf("%s URL is %d bytes, want %d", tc.name, len(tc.url), tc.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
	}{{"L", L}, {"M", M}, {"Q", Q}, {"H", H}, {"q", Q}, {" h ", H}} {
		got, err := ParseLevel(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.ToUpper(strings.TrimSpace(tc.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	for _, in := range []string{"", "X", "LM", "low", "0"} {
		if _, err := ParseLevel(in); !errors.Is(err, ErrInvalidLevel) {
			t.Errorf("ParseLevel(%q): err = %v, want ErrInvalidLevel", in, err)
		}
	}
	if s := Level(9).String(); s != "Level(9)" {
		t.Errorf("Level(9).String() = %q", s)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultOptions()
	if err := ok.Validate(); err != nil {
		t.Fatalf("DefaultOptions invalid: %v", err)
	}
	with := func(f func(*Options)) Options { o := ok; f(&o); return o }
	for _, tc := range []struct {
		name string
		o    Options
		want error
	}{
		{"zero value", Options{}, ErrInvalidLevel},
		{"level 0", with(func(o *Options) { o.Level = 0 }), ErrInvalidLevel},
		{"level 5", with(func(o *Options) { o.Level = H + 1 }), ErrInvalidLevel},
		{"size 0", with(func(o *Options) { o.Size = 0 }), ErrInvalidSize},
		{"size -256", with(func(o *Options) { o.Size = -256 }), ErrInvalidSize},
		{"size 63", with(func(o *Options) { o.Size = MinSize - 1 }), ErrInvalidSize},
		{"size 2049", with(func(o *Options) { o.Size = MaxSize + 1 }), ErrInvalidSize},
		{"quiet -1", with(func(o *Options) { o.QuietZone = -1 }), ErrInvalidQuietZone},
		{"quiet 17", with(func(o *Options) { o.QuietZone = MaxQuietZone + 1 }), ErrInvalidQuietZone},
		{"min size", with(func(o *Options) { o.Size = MinSize }), nil},
		{"max size", with(func(o *Options) { o.Size = MaxSize }), nil},
		{"no quiet zone", with(func(o *Options) { o.QuietZone = 0 }), nil},
		{"max quiet zone", with(func(o *Options) { o.QuietZone = MaxQuietZone }), nil},
	} {
		err := tc.o.Validate()
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", tc.name, err, tc.want)
		}
		// Encode and Render must report the same error and no result.
		c, err := Encode(mediumURL, tc.o)
		if !errors.Is(err, tc.want) || (c == nil) != (tc.want != nil) {
			t.Errorf("%s: Encode() = %v, %v; want %v", tc.name, c, err, tc.want)
		}
		p, s, err := Render(mediumURL, tc.o)
		if !errors.Is(err, tc.want) || (tc.want != nil && (p != nil || s != nil)) {
			t.Errorf("%s: Render() err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestEncodeContentErrors(t *testing.T) {
	o := Options{Size: MaxSize, Level: L, QuietZone: 4}
	for _, tc := range []struct {
		name    string
		content string
		want    error
	}{
		{"empty", "", ErrEmptyContent},
		{"2954 bytes", strings.Repeat("a", 2954), ErrTooLong},
		{"7090 digits", strings.Repeat("7", 7090), ErrTooLong},
		{"4297 alphanumerics", strings.Repeat("A", 4297), ErrTooLong},
		{"1 MB", strings.Repeat("x", 1<<20), ErrTooLong},
		// The largest payloads of each mode fit exactly in version 40-L.
		{"2953 bytes", strings.Repeat("a", 2953), nil},
		{"7089 digits", strings.Repeat("7", 7089), nil},
		{"4296 alphanumerics", strings.Repeat("A", 4296), nil},
	} {
		c, err := Encode(tc.content, o)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "qr: ") {
				t.Errorf("%s: got code %v, error %q without context", tc.name, c, err)
			}
			continue
		}
		if c.Version() != 40 {
			t.Errorf("%s: version %d, want 40", tc.name, c.Version())
		}
		if got := decodeMatrix(t, c); got.GetText() != tc.content {
			t.Errorf("%s: matrix decodes to %d bytes, want %d", tc.name, len(got.GetText()), len(tc.content))
		}
	}
	// Too long at H although it fits at L.
	if _, err := Encode(strings.Repeat("a", 1300), Options{Size: MaxSize, Level: H}); !errors.Is(err, ErrTooLong) {
		t.Errorf("1300 bytes at H: err = %v, want ErrTooLong", err)
	}
}

// decodeMatrix decodes the module matrix itself, skipping image detection.
func decodeMatrix(t *testing.T, c *Code) interface {
	GetText() string
	GetECLevel() string
} {
	t.Helper()
	m := make([][]bool, c.Modules())
	for y := range m {
		m[y] = make([]bool, c.Modules())
		for x := range m[y] {
			m[y][x] = c.Dark(x, y)
		}
	}
	res, err := decoder.NewDecoder().DecodeBoolMap(m, nil)
	if err != nil {
		t.Fatalf("decode matrix (version %d): %v", c.Version(), err)
	}
	return res
}

func TestCodeAccessors(t *testing.T) {
	o := Options{Size: 300, Level: Q, QuietZone: 2}
	c := mustEncode(t, mediumURL, o)
	if c.Options() != o {
		t.Errorf("Options() = %+v, want %+v", c.Options(), o)
	}
	if c.Modules() != 17+4*c.Version() {
		t.Errorf("Modules() = %d for version %d", c.Modules(), c.Version())
	}
	// Finder pattern corners are dark; anything outside the symbol is light.
	n := c.Modules()
	for _, p := range [][2]int{{0, 0}, {n - 1, 0}, {0, n - 1}, {6, 6}} {
		if !c.Dark(p[0], p[1]) {
			t.Errorf("Dark(%d, %d) = false, want finder pattern", p[0], p[1])
		}
	}
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {n, 0}, {0, n}, {n - 1, n}, {7, 7}} {
		if c.Dark(p[0], p[1]) {
			t.Errorf("Dark(%d, %d) = true, want light", p[0], p[1])
		}
	}
}

// The level is a minimum: the decoded level is at least the requested one,
// and higher levels never make the symbol smaller.
func TestLevels(t *testing.T) {
	order := map[string]Level{"L": L, "M": M, "Q": Q, "H": H}
	for _, url := range []string{shortURL, mediumURL, longURL} {
		prev := 0
		for _, lv := range []Level{L, M, Q, H} {
			c := mustEncode(t, url, Options{Size: MaxSize, Level: lv, QuietZone: 4})
			res := decodeMatrix(t, c)
			if got := order[res.GetECLevel()]; got < lv {
				t.Errorf("%d bytes at %v: decoded level %q", len(url), lv, res.GetECLevel())
			}
			if res.GetText() != url {
				t.Errorf("%d bytes at %v: decoded %q", len(url), lv, res.GetText())
			}
			if c.Version() < prev {
				t.Errorf("%d bytes: version %d at %v < %d at a lower level", len(url), c.Version(), lv, prev)
			}
			prev = c.Version()
		}
	}
}

func TestDeterministic(t *testing.T) {
	type out struct {
		png, svg []byte
		term     string
	}
	render := func(url string, o Options) out {
		c, err := Encode(url, o)
		if err != nil {
			t.Error(err)
			return out{}
		}
		p, err := c.PNG()
		if err != nil {
			t.Error(err)
		}
		return out{p, c.SVG(), c.Terminal()}
	}
	inputs := []string{shortURL, mediumURL, longURL, unicodeURL}
	opts := []Options{DefaultOptions(), {Size: 1000, Level: H, QuietZone: 1}, {Size: 177, Level: L, QuietZone: 0}}
	var want []out
	for _, u := range inputs {
		for _, o := range opts {
			want = append(want, render(u, o))
		}
	}
	// Concurrent renders share the compressor pool; each must still match.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			i := 0
			for _, u := range inputs {
				for _, o := range opts {
					got := render(u, o)
					if !bytes.Equal(got.png, want[i].png) || !bytes.Equal(got.svg, want[i].svg) || got.term != want[i].term {
						t.Errorf("render %d of %d bytes %+v differs between runs", i, len(u), o)
					}
					i++
				}
			}
		})
	}
	wg.Wait()
}
