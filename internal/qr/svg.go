package qr

import "strconv"

// SVG returns the code as a standalone SVG document, Size x Size, with a
// viewBox in modules (quiet zone included) so it scales without blurring.
// The dark modules are a single path of one rectangle per horizontal run,
// "M x y h w v1 h-w z", which keeps the document small and trivially
// parseable; crispEdges stops renderers anti-aliasing the seams between
// adjacent rectangles.
func (c *Code) SVG() []byte {
	total := strconv.Itoa(c.total())
	size := strconv.Itoa(c.opts.Size)
	q := c.opts.QuietZone

	b := make([]byte, 0, 256+c.n*c.n*4) // about 4 bytes per module in practice
	b = append(b, `<svg xmlns="http://www.w3.org/2000/svg" width="`...)
	b = append(b, size...)
	b = append(b, `" height="`...)
	b = append(b, size...)
	b = append(b, `" viewBox="0 0 `...)
	b = append(b, total...)
	b = append(b, ' ')
	b = append(b, total...)
	b = append(b, `" shape-rendering="crispEdges"><rect width="`...)
	b = append(b, total...)
	b = append(b, `" height="`...)
	b = append(b, total...)
	b = append(b, `" fill="#fff"/><path fill="#000" d="`...)
	for y := range c.n {
		dark := c.dark[y*c.n : (y+1)*c.n]
		for x := 0; x < c.n; {
			if !dark[x] {
				x++
				continue
			}
			start := x
			for x < c.n && dark[x] {
				x++
			}
			w := int64(x - start)
			b = append(b, 'M')
			b = strconv.AppendInt(b, int64(start+q), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(y+q), 10)
			b = append(b, 'h')
			b = strconv.AppendInt(b, w, 10)
			b = append(b, "v1h-"...)
			b = strconv.AppendInt(b, w, 10)
			b = append(b, 'z')
		}
	}
	return append(b, "\"/></svg>\n"...)
}
