package qr
func (c *Code) Terminal() string { return "" }
