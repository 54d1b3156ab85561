package qr

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mmelink/operator/internal/qr/qrdecode"
)

// parseTerminal inverts Terminal: it checks the colour framing of every
// line and returns the module grid (quiet zone included) the glyphs show.
func parseTerminal(t *testing.T, s string) [][]bool {
	t.Helper()
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("output does not end with a newline")
	}
	var glyphs strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		body, ok := strings.CutPrefix(line, termColors)
		if !ok {
			t.Fatalf("line %d does not start by forcing black on white: %q", i, line)
		}
		if body, ok = strings.CutSuffix(body, termReset); !ok {
			t.Fatalf("line %d does not reset its colours: %q", i, line)
		}
		glyphs.WriteString(body + "\n")
	}
	grid, err := qrdecode.TerminalModules(glyphs.String())
	if err != nil {
		t.Fatal(err)
	}
	return grid
}

func TestTerminal(t *testing.T) {
	for _, tc := range []struct {
		url string
		o   Options
	}{
		{mediumURL, DefaultOptions()},
		{shortURL, Options{Size: 256, Level: H, QuietZone: 0}},
		{shortURL, Options{Size: 256, Level: L, QuietZone: 1}},
		{longURL, Options{Size: 2048, Level: M, QuietZone: 16}},
	} {
		c := mustEncode(t, tc.url, tc.o)
		out := c.Terminal()
		total, qz := c.Modules()+2*tc.o.QuietZone, tc.o.QuietZone
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if want := (total + 1) / 2; len(lines) != want {
			t.Errorf("%+v: %d lines, want %d for %d modules", tc.o, len(lines), want, total)
		}
		for i, line := range lines {
			width := utf8.RuneCountInString(line) - utf8.RuneCountInString(termColors+termReset)
			if width != total {
				t.Fatalf("%+v: line %d is %d columns, want %d", tc.o, i, width, total)
			}
		}
		grid := parseTerminal(t, out)
		for y := range grid {
			for x := range grid[y] {
				// The row after the last one (odd total) is padding: light.
				if want := c.Dark(x-qz, y-qz); grid[y][x] != want {
					t.Fatalf("%+v: module (%d,%d) shows %v, want %v", tc.o, x, y, grid[y][x], want)
				}
			}
		}
		// Decode what the terminal shows: the glyphs carry the whole code.
		sym := make([][]bool, c.Modules())
		for y := range sym {
			sym[y] = grid[y+qz][qz : qz+c.Modules()]
		}
		back := &Code{opts: tc.o, n: c.Modules(), version: c.Version(), dark: flatten(sym)}
		if got := decodeMatrix(t, back).GetText(); got != tc.url {
			t.Errorf("%+v: terminal output decodes to %q", tc.o, got)
		}
	}
}

func flatten(m [][]bool) []bool {
	var out []bool
	for _, row := range m {
		out = append(out, row...)
	}
	return out
}
