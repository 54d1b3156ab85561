package qrdecode

import (
	"fmt"
	"image"
	"image/color"
	"regexp"
	"strings"
)

// ansi matches the colour sequences a terminal rendering sets and resets.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TerminalModules reads back the modules that half-block text draws (qr.Code.Terminal's form): each line
// is two rows of modules, ' ' neither dark, '▀' the upper, '▄' the lower, '█' both. Anything else is an
// error, colour sequences included: strip them first (Terminal does). A final newline ends the last line.
func TerminalModules(s string) ([][]bool, error) {
	var rows [][]bool
	for i, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		top, bottom := []bool{}, []bool{}
		for _, r := range line {
			switch r {
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			default:
				return nil, fmt.Errorf("terminal line %d: unexpected %q", i+1, r)
			}
		}
		rows = append(rows, top, bottom)
	}
	return rows, nil
}

// Terminal decodes a QR code drawn as half-block text, colour sequences and all, to its content.
func Terminal(s string) (string, error) {
	rows, err := TerminalModules(ansi.ReplaceAllString(s, ""))
	if err != nil {
		return "", err
	}
	return Image(modulesImage(rows, 4))
}

// modulesImage draws rows of modules, scale pixels a module.
func modulesImage(rows [][]bool, scale int) *image.Gray {
	width := 0
	for _, row := range rows {
		width = max(width, len(row))
	}
	img := image.NewGray(image.Rect(0, 0, width*scale, len(rows)*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y, row := range rows {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
				}
			}
		}
	}
	return img
}
