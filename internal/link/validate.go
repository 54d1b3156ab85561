package link

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Patterns and limits of the validators. The API types use these strings in their kubebuilder markers;
// the tests check that each validator accepts exactly the strings its pattern (and limit) accepts.
// Lengths are counted in characters (runes), as the Kubernetes API server counts MinLength/MaxLength.
const (
	// PageIDPattern matches a numeric Page ID.
	PageIDPattern = `^[0-9]{1,20}$`
	// UsernamePattern matches the characters and length of a Page username. A username must also match
	// UsernameAlnumPattern: five periods are not a username.
	UsernamePattern = `^[A-Za-z0-9.]{5,50}$`
	// UsernameAlnumPattern is the unanchored pattern that a username must also match: at least one letter
	// or digit. RE2 (used by the API server) has no lookahead to fold it into UsernamePattern.
	UsernameAlnumPattern = `[A-Za-z0-9]`
	// RefPattern matches a ref: the intersection of the character sets and lengths that Meta's pages
	// document, so a ref that matches it is accepted wherever a ref goes.
	RefPattern = `^[A-Za-z0-9_=-]{1,250}$`
	// RefPartPattern matches a base ref, a field id or a field value of an encoded ref: RefPattern's
	// characters, without "--" (the separator) and without '-' at either end (so that a separator is
	// never next to a dash and decoding is unambiguous). The encoded ref must also match RefPattern.
	RefPartPattern = `^[A-Za-z0-9_=]+(-[A-Za-z0-9_=]+)*$`
	// TextPattern matches prefilled text on valid UTF-8: 1 to 1000 characters, no control characters
	// other than tab and newline. Go's regexp reads invalid UTF-8 as U+FFFD, which this pattern accepts;
	// ValidateText rejects it (the API server only ever sees valid UTF-8).
	TextPattern = `^[^\x00-\x08\x0B-\x1F\x7F-\x9F]{1,1000}$`
	// TopicPattern matches a recurring-notification topic: words of letters and digits separated by
	// single spaces. Its length is limited by MaxTopicLength.
	TopicPattern = `^[\p{L}\p{N}]+( [\p{L}\p{N}]+)*$`

	// MaxPageIDLength is the maximum number of digits of a Page ID.
	MaxPageIDLength = 20
	// MinUsernameLength is the minimum length of a Page username.
	MinUsernameLength = 5
	// MaxUsernameLength is the maximum length of a Page username.
	MaxUsernameLength = 50
	// MaxRefLength is the maximum length of a ref, fields included.
	MaxRefLength = 250
	// MaxTextLength is the maximum number of characters of prefilled text.
	MaxTextLength = 1000
	// MaxTopicLength is the maximum number of characters of a topic (Meta's limit on a template title).
	MaxTopicLength = 65
)

// Cadences of recurring notifications. An empty cadence means CadenceDaily.
const (
	// CadenceDaily allows one notification a day.
	CadenceDaily = "daily"
	// CadenceWeekly allows one notification a week.
	CadenceWeekly = "weekly"
	// CadenceMonthly allows one notification a month.
	CadenceMonthly = "monthly"
	// DefaultCadence is the cadence that an empty cadence stands for.
	DefaultCadence = CadenceDaily
)

// FieldError tells which field is invalid and which rule it breaks. Field is the field's path in the
// operator's API (page.id, fields[2].value, ...). Rule never holds more than a short quote of the input.
type FieldError struct {
	Field string
	Rule  string
}

// Error returns "field: rule", for example "page.username: must be at least 5 characters (has 3)".
func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// maxQuote is how many characters of an input an error message may quote.
const maxQuote = 40

// quote quotes s for an error message, cut to maxQuote characters so that a huge input never ends up
// in a status condition or a log line.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuote {
		i, n := 0, 0
		for n < maxQuote {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			n++
		}
		return strconv.Quote(s[:i]) + "..."
	}
	return strconv.Quote(s)
}

// found describes the character that starts at byte i of s, at character index pos.
func found(s string, i, pos int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("found byte 0x%02X at index %d", s[i], pos)
	}
	return fmt.Sprintf("found %s at index %d", strconv.QuoteRune(r), pos)
}

func tooLong(field string, maxLen, n int) error {
	return &FieldError{Field: field, Rule: fmt.Sprintf("must be at most %d characters (has %d)", maxLen, n)}
}

func empty(field string) error { return &FieldError{Field: field, Rule: "must not be empty"} }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// ValidatePageID checks a numeric Page ID against PageIDPattern.
func ValidatePageID(id string) error {
	const field = "page.id"
	if id == "" {
		return empty(field)
	}
	for i := 0; i < len(id); i++ {
		if !isDigit(id[i]) {
			return &FieldError{Field: field, Rule: "must match " + PageIDPattern + " (" + found(id, i, i) + ")"}
		}
	}
	if len(id) > MaxPageIDLength {
		return tooLong(field, MaxPageIDLength, len(id))
	}
	return nil
}

// ValidateUsername checks a Page username: UsernamePattern, and at least one letter or digit.
func ValidateUsername(u string) error {
	const field = "page.username"
	if u == "" {
		return empty(field)
	}
	alnum := false
	for i := 0; i < len(u); i++ {
		switch c := u[i]; {
		case isAlnum(c):
			alnum = true
		case c != '.':
			return &FieldError{Field: field, Rule: "must match " + UsernamePattern + " (" + found(u, i, i) + ")"}
		}
	}
	// Every byte is ASCII from here on, so len counts characters.
	switch {
	case len(u) < MinUsernameLength:
		return &FieldError{Field: field, Rule: fmt.Sprintf("must be at least %d characters (has %d)", MinUsernameLength, len(u))}
	case len(u) > MaxUsernameLength:
		return tooLong(field, MaxUsernameLength, len(u))
	case !alnum:
		return &FieldError{Field: field, Rule: "must contain at least one letter or digit"}
	}
	return nil
}

// NormalizeUsername returns the form of a username that Facebook compares: lowercase, without periods,
// so NormalizeUsername("John.Smith55") == NormalizeUsername("johnsmith55"). It does not validate.
func NormalizeUsername(u string) string {
	clean := true
	for _, r := range u {
		if r == '.' || unicode.ToLower(r) != r {
			clean = false
			break
		}
	}
	if clean {
		return u // the usual case for stored usernames: no allocation
	}
	var b strings.Builder
	b.Grow(len(u))
	for _, r := range u {
		if r != '.' {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// ValidateRef checks a ref against RefPattern.
func ValidateRef(ref string) error {
	const field = "ref"
	if ref == "" {
		return empty(field)
	}
	for i := 0; i < len(ref); i++ {
		if !isRefChar(ref[i]) {
			return &FieldError{Field: field, Rule: "must match " + RefPattern + " (" + found(ref, i, i) + ")"}
		}
	}
	if len(ref) > MaxRefLength {
		return tooLong(field, MaxRefLength, len(ref))
	}
	return nil
}

func isRefChar(c byte) bool { return isAlnum(c) || c == '_' || c == '=' || c == '-' }

// ValidateText checks prefilled text: 1 to MaxTextLength characters of valid UTF-8 without control
// characters other than newline and tab (TextPattern).
func ValidateText(text string) error {
	const field = "text"
	if text == "" {
		return empty(field)
	}
	n := 0 // characters so far
	for i := 0; i < len(text); n++ {
		r, size := rune(text[i]), 1 // ASCII, the usual case, needs no decoding
		if r >= utf8.RuneSelf {
			if r, size = utf8.DecodeRuneInString(text[i:]); r == utf8.RuneError && size == 1 {
				return &FieldError{Field: field, Rule: "must be valid UTF-8 (" + found(text, i, n) + ")"}
			}
		}
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return &FieldError{Field: field, Rule: fmt.Sprintf(
				"must not contain control characters other than newline and tab (found U+%04X at index %d)", r, n)}
		}
		i += size
	}
	if n > MaxTextLength {
		return tooLong(field, MaxTextLength, n)
	}
	return nil
}

// ValidateTopic checks a recurring-notification topic: 1 to MaxTopicLength characters of letters (any
// script), digits and single spaces, with no space at either end (TopicPattern).
func ValidateTopic(topic string) error {
	const field = "topic"
	if topic == "" {
		return empty(field)
	}
	n := 0
	space := false // whether the previous character was a space
	for i, r := range topic {
		switch {
		case r == ' ':
			if n == 0 {
				return &FieldError{Field: field, Rule: "must not start with a space"}
			}
			if space {
				return &FieldError{Field: field, Rule: fmt.Sprintf("must not contain two spaces in a row (at index %d)", n)}
			}
			space = true
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			// RuneError (U+FFFD, also what invalid UTF-8 decodes to) is neither, so it lands below.
			space = false
		default:
			return &FieldError{Field: field, Rule: "must contain only letters, digits and single spaces (" + found(topic, i, n) + ")"}
		}
		n++
	}
	if space {
		return &FieldError{Field: field, Rule: "must not end with a space"}
	}
	if n > MaxTopicLength {
		return tooLong(field, MaxTopicLength, n)
	}
	return nil
}

// ValidateCadence checks a cadence: empty (meaning DefaultCadence), CadenceDaily, CadenceWeekly or
// CadenceMonthly. Case matters, as in the API's enum.
func ValidateCadence(cadence string) error {
	switch cadence {
	case "", CadenceDaily, CadenceWeekly, CadenceMonthly:
		return nil
	}
	return &FieldError{Field: "cadence", Rule: "must be one of daily, weekly, monthly (got " + quote(cadence) + ")"}
}
