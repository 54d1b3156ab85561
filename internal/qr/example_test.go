package qr_test

import (
	"fmt"
	"log"

	"github.com/mmelink/operator/internal/qr"
)

func ExampleEncode() {
	level, err := qr.ParseLevel("Q")
	if err != nil {
		log.Fatal(err)
	}
	o := qr.DefaultOptions()
	o.Level = level
	c, err := qr.Encode("https://mme.link/r/a1B2c3", o)
	if err != nil {
		log.Fatal(err)
	}
	png, err := c.PNG()
	if err != nil {
		log.Fatal(err)
	}
	svg := c.SVG()
	fmt.Printf("version %d, %d modules + 2x%d quiet zone, PNG %t, SVG %t\n",
		c.Version(), c.Modules(), o.QuietZone, len(png) > 0, len(svg) > 0)
	// Output: version 3, 29 modules + 2x4 quiet zone, PNG true, SVG true
}
