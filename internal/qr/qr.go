// Package qr renders a URL (or any short text) as a QR code: a PNG image, an
// SVG document, or Unicode half blocks for a terminal.
//
// Encode builds the module matrix once; the renderers on *Code only draw it,
// so asking for several formats costs one encoding. Output is deterministic:
// the same content and Options always give the same bytes.
//
// The matrix comes from github.com/piglig/go-qr, chosen by measurement (see
// BenchmarkMatrix in encoder_test.go): 2.7-3.5x faster than
// github.com/skip2/go-qrcode with far fewer allocations, and maintained.
// skip2 made smaller symbols for digit- or uppercase-heavy URLs thanks to
// mixed-mode segments; segment.go closes that gap by computing the optimal
// segmentation itself. piglig chooses the mask. The image writers (png.go,
// svg.go) are small and purpose-built: 1-bit PNG about 7x faster than
// image/png.
package qr

import (
	"errors"
	"fmt"
	"strings"

	goqr "github.com/piglig/go-qr"
)

// Level is the error correction level: the share of the symbol that can be
// damaged and still decode. Its zero value is invalid, so forgetting to set
// it in Options is reported instead of silently meaning L.
type Level int

// Error correction levels, from the smallest symbol to the most robust one.
const (
	L Level = iota + 1 // about 7% recoverable
	M                  // about 15% recoverable
	Q                  // about 25% recoverable
	H                  // about 30% recoverable
)

// String returns "L", "M", "Q" or "H".
func (l Level) String() string {
	switch l {
	case L:
		return "L"
	case M:
		return "M"
	case Q:
		return "Q"
	case H:
		return "H"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses "L", "M", "Q" or "H" (case-insensitive, as they tend to
// come from flags and annotations).
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "L":
		return L, nil
	case "M":
		return M, nil
	case "Q":
		return Q, nil
	case "H":
		return H, nil
	}
	return 0, fmt.Errorf("qr: parse level %q: %w", s, ErrInvalidLevel)
}

func (l Level) ecc() goqr.Ecc {
	switch l {
	case L:
		return goqr.Low
	case M:
		return goqr.Medium
	case Q:
		return goqr.Quartile
	default:
		return goqr.High
	}
}

// Limits accepted by Options.
const (
	MinSize      = 64   // smallest PNG/SVG edge in pixels
	MaxSize      = 2048 // largest PNG/SVG edge in pixels
	MaxQuietZone = 16   // widest quiet zone in modules
	// StandardQuietZone is the margin ISO/IEC 18004 requires around a symbol.
	StandardQuietZone = 4
)

// Errors returned (wrapped) by this package; test them with errors.Is.
var (
	ErrInvalidLevel     = errors.New("invalid error correction level (want L, M, Q or H)")
	ErrInvalidSize      = fmt.Errorf("size out of range [%d, %d] pixels", MinSize, MaxSize)
	ErrInvalidQuietZone = fmt.Errorf("quiet zone out of range [0, %d] modules", MaxQuietZone)
	ErrEmptyContent     = errors.New("empty content")
	ErrTooLong          = errors.New("content too long for a QR code")
	// ErrSizeTooSmall means the symbol plus quiet zone does not fit in Size
	// pixels even at one pixel per module. It is an error rather than a
	// silently larger image so that the PNG is always exactly Size pixels.
	ErrSizeTooSmall = errors.New("size too small for the symbol")
)

// Options control the rendering. The zero value is invalid; start from
// DefaultOptions.
type Options struct {
	// Size is the edge of the PNG in pixels and the width/height of the SVG,
	// MinSize..MaxSize. The PNG is exactly Size: every module is the same
	// whole number of pixels, scale = Size / (Modules + 2*QuietZone) rounded
	// down, and the Size - scale*(Modules+2*QuietZone) pixels left over go to
	// the margin, half before the code and the rest after. That remainder is
	// the one inexact part and is always less than one pixel per module; a
	// finer fit would need modules of unequal widths, which decoders that
	// sample a pure grid misread (tried: TestRoundTrip fails in pure mode).
	Size int
	// Level is the minimum error correction level. The encoder raises it
	// when the higher level fits in the same symbol: more robustness, same
	// size.
	Level Level
	// QuietZone is the white margin around the symbol in modules,
	// 0..MaxQuietZone: QuietZone*scale pixels in the PNG, plus the remainder
	// described at Size (so 0 leaves only that remainder). Scanners need
	// StandardQuietZone unless the code is placed on a white page that
	// provides the margin.
	QuietZone int
}

// DefaultOptions returns 256 px, level M and the standard quiet zone.
func DefaultOptions() Options {
	return Options{Size: 256, Level: M, QuietZone: StandardQuietZone}
}

// Validate reports the first invalid field of o.
func (o Options) Validate() error {
	if o.Level < L || o.Level > H {
		return fmt.Errorf("qr: level %v: %w", o.Level, ErrInvalidLevel)
	}
	if o.Size < MinSize || o.Size > MaxSize {
		return fmt.Errorf("qr: size %d: %w", o.Size, ErrInvalidSize)
	}
	if o.QuietZone < 0 || o.QuietZone > MaxQuietZone {
		return fmt.Errorf("qr: quiet zone %d: %w", o.QuietZone, ErrInvalidQuietZone)
	}
	return nil
}

// Code is an encoded QR symbol ready to be rendered. It is immutable and
// safe for concurrent use.
type Code struct {
	opts    Options
	n       int    // symbol edge in modules, without the quiet zone
	version int    // QR version 1..40
	dark    []bool // n*n modules, row-major; true is dark
}

// Encode encodes content (typically a URL; its bytes are stored as is, so
// UTF-8 stays UTF-8; percent-encoded URLs scan most reliably) into the
// smallest symbol for o.Level. Besides invalid options it fails with
// ErrEmptyContent, ErrTooLong, or ErrSizeTooSmall when the symbol and quiet
// zone need more than o.Size pixels at one pixel per module (a large URL at
// a small size: raise Size, lower Level or shorten the URL).
func Encode(content string, o Options) (*Code, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if content == "" {
		return nil, fmt.Errorf("qr: encode: %w", ErrEmptyContent)
	}
	q, err := encodeSymbol(content, o.Level.ecc())
	if err != nil {
		return nil, fmt.Errorf("qr: encode %d bytes at level %v: %w", len(content), o.Level, err)
	}
	n := q.Size()
	c := &Code{opts: o, n: n, version: (n - 17) / 4, dark: make([]bool, n*n)}
	for y := range n {
		for x := range n {
			c.dark[y*n+x] = q.Module(x, y)
		}
	}
	if total := c.total(); total > o.Size {
		return nil, fmt.Errorf("qr: version %d symbol with quiet zone %d is %d modules, more than size %d px: %w",
			c.version, o.QuietZone, total, o.Size, ErrSizeTooSmall)
	}
	return c, nil
}

// Render encodes content and returns both the PNG and the SVG.
func Render(content string, o Options) (png, svg []byte, err error) {
	c, err := Encode(content, o)
	if err != nil {
		return nil, nil, err
	}
	png, err = c.PNG()
	if err != nil {
		return nil, nil, err
	}
	return png, c.SVG(), nil
}

// Options returns the options the code was encoded with.
func (c *Code) Options() Options { return c.opts }

// Version returns the QR version, 1..40; the symbol is 17+4*Version modules.
func (c *Code) Version() int { return c.version }

// Modules returns the symbol edge in modules, without the quiet zone.
func (c *Code) Modules() int { return c.n }

// Dark reports whether the module at column x, row y of the symbol is dark.
// Coordinates outside the symbol (the quiet zone and beyond) are light.
func (c *Code) Dark(x, y int) bool {
	return x >= 0 && y >= 0 && x < c.n && y < c.n && c.dark[y*c.n+x]
}

// total is the rendered edge in modules, quiet zone included.
func (c *Code) total() int { return c.n + 2*c.opts.QuietZone }
