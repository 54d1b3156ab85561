package qrdecode

import (
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// Half-block text of an independent encoder decodes back, with or without colour sequences around each
// line, as a terminal shows it.
func TestTerminal(t *testing.T) {
	url := "https://m.me/acme.shoes?ref=summer_sale--738--store12"
	q, err := qrcode.New(url, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	text := q.ToSmallString(true) // dark modules as ink
	var coloured strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if line != "" {
			coloured.WriteString("\x1b[30;47m" + strings.TrimSuffix(line, "\n") + "\x1b[0m\n")
		}
	}
	for name, s := range map[string]string{"plain": text, "coloured": coloured.String()} {
		if got, err := Terminal(s); err != nil || got != url {
			t.Errorf("%s: Terminal = %q, %v; want %q", name, got, err, url)
		}
	}
}

func TestTerminalModules(t *testing.T) {
	got, err := TerminalModules(" ▀\n▄█\n")
	want := [][]bool{{false, true}, {false, false}, {false, true}, {true, true}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("TerminalModules = %v, %v; want %v", got, err, want)
	}
	for y := range want {
		for x := range want[y] {
			if got[y][x] != want[y][x] {
				t.Errorf("module (%d,%d) = %v, want %v", x, y, got[y][x], want[y][x])
			}
		}
	}
	if _, err := TerminalModules("\x1b[0m█\n"); err == nil {
		t.Error("a colour sequence was taken for modules")
	}
}
