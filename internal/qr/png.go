package qr
func (c *Code) PNG() ([]byte, error) { return nil, nil }
