package qr
func (c *Code) SVG() []byte { return nil }
