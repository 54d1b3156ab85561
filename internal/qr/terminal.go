package qr

import "strings"

// Terminal colours: 256-colour palette entries 16 (black) and 231 (white)
// sit in the fixed colour cube, which terminal themes leave alone, unlike
// the 16 basic colours. Forcing both colours is what makes the code scan on
// dark and light terminals alike. Each line resets its colours before the
// newline so the background does not bleed into the rest of the line.
const (
	termColors = "\x1b[38;5;16;48;5;231m"
	termReset  = "\x1b[0m"
)

// Half-block glyphs, indexed by top<<1 | bottom (1 = dark module).
var termGlyphs = [4]string{" ", "▄", "▀", "█"}

// Terminal renders the code, quiet zone included, for a terminal: each text
// line holds two module rows drawn with Unicode half blocks in forced black
// on white, so a symbol of N modules takes (N+1)/2 lines of N columns. The
// last line's lower half is white when N is odd. QuietZone is honoured as
// is; with 0 the symbol touches the terminal background.
func (c *Code) Terminal() string {
	total, q := c.total(), c.opts.QuietZone
	var sb strings.Builder
	sb.Grow((total + 1) / 2 * (len(termColors) + len(termReset) + 1 + total*3))
	for y := 0; y < total; y += 2 {
		sb.WriteString(termColors)
		for x := range total {
			i := 0
			if c.Dark(x-q, y-q) {
				i |= 2
			}
			if c.Dark(x-q, y+1-q) {
				i |= 1
			}
			sb.WriteString(termGlyphs[i])
		}
		sb.WriteString(termReset)
		sb.WriteByte('\n')
	}
	return sb.String()
}
