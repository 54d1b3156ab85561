package link

import "strings"

const (
	messengerPrefix = "https://m.me/"
	recurringPrefix = "https://m.me/rn/"
)

// MessengerURL returns the m.me link that opens a conversation with page: https://m.me/PAGE, followed
// by ?ref=REF and &text=TEXT in that order, each left out when empty. page is a Page username or a
// numeric Page ID. The ref is checked with ValidateRef (so an encoded ref from EncodeRef fits), the
// text with ValidateText.
func MessengerURL(page, ref, text string) (string, error) {
	if err := validatePage(page); err != nil {
		return "", err
	}
	n := len(messengerPrefix) + len(page)
	if ref != "" {
		if err := ValidateRef(ref); err != nil {
			return "", err
		}
		n += len("?ref=") + escapedLen(ref)
	}
	if text != "" {
		if err := ValidateText(text); err != nil {
			return "", err
		}
		n += len("&text=") + escapedLen(text)
	}

	var b strings.Builder
	b.Grow(n) // the only allocation
	b.WriteString(messengerPrefix)
	b.WriteString(page) // validated: unreserved characters only
	sep := byte('?')
	if ref != "" {
		writeParam(&b, sep, "ref=", ref)
		sep = '&'
	}
	if text != "" {
		writeParam(&b, sep, "text=", text)
	}
	return b.String(), nil
}

// RecurringURL returns the link that asks a person to opt in to recurring notifications about topic:
// https://m.me/rn/PAGE?topic=TOPIC&cadence=CADENCE, followed by &ref=REF when ref is set. An empty
// cadence is written out as DefaultCadence so that the link says what it does.
func RecurringURL(page, topic, cadence, ref string) (string, error) {
	if err := validatePage(page); err != nil {
		return "", err
	}
	if err := ValidateTopic(topic); err != nil {
		return "", err
	}
	if err := ValidateCadence(cadence); err != nil {
		return "", err
	}
	if cadence == "" {
		cadence = DefaultCadence
	}
	n := len(recurringPrefix) + len(page) + len("?topic=") + escapedLen(topic) + len("&cadence=") + len(cadence)
	if ref != "" {
		if err := ValidateRef(ref); err != nil {
			return "", err
		}
		n += len("&ref=") + escapedLen(ref)
	}

	var b strings.Builder
	b.Grow(n)
	b.WriteString(recurringPrefix)
	b.WriteString(page)
	writeParam(&b, '?', "topic=", topic)
	writeParam(&b, '&', "cadence=", cadence)
	if ref != "" {
		writeParam(&b, '&', "ref=", ref)
	}
	return b.String(), nil
}

// validatePage accepts a numeric Page ID or a username. A string of digits is reported as an ID, since
// that is what it most likely is; anything else as a username.
func validatePage(page string) error {
	if page != "" && len(page) <= MaxPageIDLength && allDigits(page) {
		return nil // checked without ValidatePageID, whose error would cost an allocation for usernames
	}
	err := ValidateUsername(page)
	if err != nil && allDigits(page) { // also page == ""
		return ValidatePageID(page)
	}
	return err
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// unreserved holds the RFC 3986 unreserved characters, the only bytes a query value keeps as they are.
var unreserved = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isAlnum(byte(c)) || c == '-' || c == '.' || c == '_' || c == '~'
	}
	return t
}()

// escapedLen is the length of s once percent-encoded.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !unreserved[s[i]] {
			n += 2
		}
	}
	return n
}

const upperHex = "0123456789ABCDEF"

// writeParam writes sep, key (which ends in '=') and value percent-encoded. Unlike url.Values and
// url.QueryEscape it writes a space as %20: Meta's examples do, and '+' is not a space everywhere.
func writeParam(b *strings.Builder, sep byte, key, value string) {
	b.WriteByte(sep)
	b.WriteString(key)
	// The encoded bytes are gathered on the stack and handed to the builder in a few large writes: every
	// write through b costs a GC write barrier, which doubled the time of a long text when written per byte.
	var buf [256]byte
	n := 0
	for i := 0; i < len(value); i++ {
		if n > len(buf)-3 {
			b.Write(buf[:n])
			n = 0
		}
		c := value[i]
		if unreserved[c] {
			buf[n] = c
			n++
			continue
		}
		buf[n] = '%'
		buf[n+1] = upperHex[c>>4]
		buf[n+2] = upperHex[c&0x0F]
		n += 3
	}
	b.Write(buf[:n])
}
