package link

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The exported patterns, compiled as the API server compiles them (Go's RE2 regexp).
var (
	pageIDRe        = regexp.MustCompile(PageIDPattern)
	usernameRe      = regexp.MustCompile(UsernamePattern)
	usernameAlnumRe = regexp.MustCompile(UsernameAlnumPattern)
	refRe           = regexp.MustCompile(RefPattern)
	refPartRe       = regexp.MustCompile(RefPartPattern)
	textRe          = regexp.MustCompile(TextPattern)
	topicRe         = regexp.MustCompile(TopicPattern)
)

// validator pairs a hand-written validator with the pattern it must agree with.
type validator struct {
	name    string
	fn      func(string) error
	field   string
	pattern func(string) bool // the exported pattern plus the rules documented next to it
}

var validators = []validator{
	{"ValidatePageID", ValidatePageID, "page.id", pageIDRe.MatchString},
	{"ValidateUsername", ValidateUsername, "page.username", func(s string) bool {
		return usernameRe.MatchString(s) && usernameAlnumRe.MatchString(s)
	}},
	{"ValidateRef", ValidateRef, "ref", refRe.MatchString},
	{"ValidateText", ValidateText, "text", func(s string) bool {
		return utf8.ValidString(s) && textRe.MatchString(s)
	}},
	{"ValidateTopic", ValidateTopic, "topic", func(s string) bool {
		return topicRe.MatchString(s) && utf8.RuneCountInString(s) <= MaxTopicLength
	}},
}

// validatorCase is one input and the rule it breaks: "" when the input is valid, otherwise a part of the
// FieldError's Rule.
type validatorCase struct {
	in   string
	rule string
}

var validatorCases = map[string][]validatorCase{
	"ValidatePageID": {
		{"1", ""},
		{"1234567890", ""},
		{strings.Repeat("9", 20), ""},
		{"", "must not be empty"},
		{strings.Repeat("9", 21), "must be at most 20 characters (has 21)"},
		{"12a4", "must match ^[0-9]{1,20}$ (found 'a' at index 2)"},
		{"-1", "found '-' at index 0"},
		{" 123", "found ' ' at index 0"},
		{"123\n", `found '\n' at index 3`},
		{"١٢٣", "found '١' at index 0"}, // Arabic-Indic digits are digits, but not Page ID digits
	},
	"ValidateUsername": {
		{"johnsmith55", ""},
		{"John.Smith55", ""},
		{"a.b.c", ""},
		{"....a", ""},
		{"12345", ""},
		{strings.Repeat("ab", 25), ""},
		{"", "must not be empty"},
		{"abcd", "must be at least 5 characters (has 4)"},
		{strings.Repeat("ab", 25) + "c", "must be at most 50 characters (has 51)"},
		{".....", "must contain at least one letter or digit"},
		{"john_smith", "must match ^[A-Za-z0-9.]{5,50}$ (found '_' at index 4)"},
		{"josé.silva", "found 'é' at index 3"},
		{"john smith", "found ' ' at index 4"},
	},
	"ValidateRef": {
		{"summer_coupon", ""},
		{"a", ""},
		{"A-b_c=d", ""},
		{"-a", ""}, // a plain ref may start with '-'; only ref parts (RefPartPattern) may not
		{"tutorial--738--value1", ""},
		{"==", ""},
		{strings.Repeat("r", 250), ""},
		{"", "must not be empty"},
		{strings.Repeat("r", 251), "must be at most 250 characters (has 251)"},
		{"summer coupon", "must match ^[A-Za-z0-9_=-]{1,250}$ (found ' ' at index 6)"},
		{"a+b", "found '+' at index 1"},
		{"a/b", "found '/' at index 1"},
		{"a.b", "found '.' at index 1"},
		{"a:b", "found ':' at index 1"},
		{"é", "found 'é' at index 0"},
		{"\xff", "found byte 0xFF at index 0"},
	},
	"ValidateText": {
		{"Hello and Welcome", ""},
		{"Line 1\nLine 2", ""},
		{"a\tb", ""},
		{"Café ☕ 你好", ""},
		{"🎉", ""},
		{"\uFFFD", ""}, // the replacement character itself is valid UTF-8
		{strings.Repeat("é", 1000), ""},
		{"", "must not be empty"},
		{strings.Repeat("a", 1001), "must be at most 1000 characters (has 1001)"},
		{strings.Repeat("é", 1001), "must be at most 1000 characters (has 1001)"},
		{"a\r\nb", "must not contain control characters other than newline and tab (found U+000D at index 1)"},
		{"\x00", "found U+0000 at index 0"},
		{"del\x7f", "found U+007F at index 3"},
		{"next\u0085line", "found U+0085 at index 4"},
		{"é\x01", "found U+0001 at index 1"}, // the index counts characters, not bytes
		{"a\xffb", "must be valid UTF-8 (found byte 0xFF at index 1)"},
	},
	"ValidateTopic": {
		{"weekly deals", ""},
		{"Deals", ""},
		{"Ofertas de café", ""},
		{"日本語 ニュース", ""},
		{"Top 10 deals", ""},
		{"ΑΒΓ", ""},
		{strings.Repeat("a", 65), ""},
		{strings.Repeat("é", 65), ""},
		{"", "must not be empty"},
		{" deals", "must not start with a space"},
		{"deals ", "must not end with a space"},
		{"weekly  deals", "must not contain two spaces in a row (at index 7)"},
		{"deals!", "must contain only letters, digits and single spaces (found '!' at index 5)"},
		{"a\tb", `found '\t' at index 1`},
		{"a_b", "found '_' at index 1"},
		{"a\u00a0b", `found '\u00a0' at index 1`},
		{"é\xffb", "found byte 0xFF at index 1"},
		{strings.Repeat("a", 66), "must be at most 65 characters (has 66)"},
	},
}

func TestValidators(t *testing.T) {
	for _, v := range validators {
		t.Run(v.name, func(t *testing.T) {
			cases := validatorCases[v.name]
			if len(cases) == 0 {
				t.Fatal("no cases")
			}
			for _, c := range cases {
				checkFieldError(t, v.name, c.in, v.fn(c.in), v.field, c.rule)
			}
		})
	}
}

// checkFieldError asserts that err is nil when rule is "", and otherwise a *FieldError for field whose
// Rule contains rule.
func checkFieldError(t *testing.T, fn, in string, err error, field, rule string) {
	t.Helper()
	in = quote(in)
	if rule == "" {
		if err != nil {
			t.Errorf("%s(%s) = %v, want nil", fn, in, err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("%s(%s) = %v, want a *FieldError", fn, in, err)
		return
	}
	if fe.Field != field || !strings.Contains(fe.Rule, rule) {
		t.Errorf("%s(%s) = %q, want field %q and a rule containing %q", fn, in, err, field, rule)
	}
}

func TestFieldErrorMessage(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ValidateUsername("abc"), "page.username: must be at least 5 characters (has 3)"},
		{ValidateRef("a b"), "ref: must match ^[A-Za-z0-9_=-]{1,250}$ (found ' ' at index 1)"},
		{ValidateCadence("hourly"), `cadence: must be one of daily, weekly, monthly (got "hourly")`},
		{&FieldError{Field: "fields[1].id", Rule: "must not be empty"}, "fields[1].id: must not be empty"},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("error = %v, want %q", c.err, c.want)
		}
	}
}

// TestErrorsStayShort feeds every validator a megabyte: the message must not carry the input along.
func TestErrorsStayShort(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	errs := []error{ValidateCadence(huge), ValidateCadence(strings.Repeat("☕", 1<<18))}
	for _, v := range validators {
		errs = append(errs, v.fn(huge), v.fn(huge+"!"), v.fn("!"+huge))
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a megabyte of input was accepted")
		}
		if len(err.Error()) > 200 {
			t.Errorf("error is %d bytes long: %.100s...", len(err.Error()), err)
		}
	}
}

func TestValidateCadence(t *testing.T) {
	for _, c := range []validatorCase{
		{"", ""},
		{CadenceDaily, ""},
		{CadenceWeekly, ""},
		{CadenceMonthly, ""},
		{"Daily", `(got "Daily")`},
		{"hourly", "must be one of daily, weekly, monthly"},
		{" weekly", `(got " weekly")`},
		{strings.Repeat("y", 41), `(got "` + strings.Repeat("y", 40) + `"...)`},
	} {
		checkFieldError(t, "ValidateCadence", c.in, ValidateCadence(c.in), "cadence", c.rule)
	}
}

func TestNormalizeUsername(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"John.Smith55", "johnsmith55"},
		{"johnsmith55", "johnsmith55"},
		{"J.O.H.N.S", "johns"},
		{"..", ""},
		{"", ""},
	} {
		if got := NormalizeUsername(c.in); got != c.want {
			t.Errorf("NormalizeUsername(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if a, b := NormalizeUsername("John.Smith55"), NormalizeUsername("johnsmith.55"); a != b {
		t.Errorf("usernames that Facebook treats as one normalize differently: %q, %q", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { NormalizeUsername("johnsmith55") }); n != 0 {
		t.Errorf("NormalizeUsername of a normalized username allocates %v times, want 0", n)
	}
}

// patternCorpus is every table input plus strings around each limit.
func patternCorpus() []string {
	var corpus []string
	for _, cases := range validatorCases {
		for _, c := range cases {
			corpus = append(corpus, c.in)
		}
	}
	for _, unit := range []string{"1", "a", ".", "-", "=", "é", " ", "a ", "\n", "\x00", "\xff"} {
		for _, n := range []int{0, 1, 4, 5, 19, 20, 21, 32, 33, 49, 50, 51, 64, 65, 66, 249, 250, 251, 999, 1000, 1001} {
			corpus = append(corpus, strings.Repeat(unit, n), "a"+strings.Repeat(unit, n))
		}
	}
	return corpus
}

// TestValidatorsAgreeWithPatterns checks that each validator accepts exactly what its exported pattern
// accepts, on the tables and on strings around each limit. FuzzValidators and FuzzValidateRef check more.
func TestValidatorsAgreeWithPatterns(t *testing.T) {
	for _, s := range patternCorpus() {
		checkAgreement(t, s)
	}
}

func checkAgreement(t *testing.T, s string) {
	t.Helper()
	for _, v := range validators {
		err := v.fn(s)
		if want := v.pattern(s); (err == nil) != want {
			t.Errorf("%s(%s) = %v, but the pattern accepts it: %v", v.name, quote(s), err, want)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("%s(%s): error is %d bytes long", v.name, quote(s), len(err.Error()))
		}
	}
}

func FuzzValidators(f *testing.F) {
	for _, s := range patternCorpus() {
		if len(s) < 300 { // the rest would only slow the fuzzer down
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkAgreement(t, s)
	})
}

// FuzzValidateRef checks ValidateRef against RefPattern and the rule for ref parts against
// RefPartPattern (a ref part is a single-part encoded ref: EncodeRef(s, nil)).
func FuzzValidateRef(f *testing.F) {
	for _, c := range validatorCases["ValidateRef"] {
		f.Add(c.in)
	}
	for _, s := range []string{"a-b", "a--b", "a---b", "a-", "-", "=-=", "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateRef(s)
		if want := refRe.MatchString(s); (err == nil) != want {
			t.Fatalf("ValidateRef(%q) = %v, but RefPattern accepts it: %v", s, err, want)
		}
		_, err = EncodeRef(s, nil)
		if want := refPartRe.MatchString(s) && len(s) <= MaxRefLength; (err == nil) != want {
			t.Fatalf("EncodeRef(%q, nil) = %v, but RefPartPattern accepts it: %v", s, err, want)
		}
		if got := partRule(s) == ""; got != refPartRe.MatchString(s) {
			t.Fatalf("partRule(%q) accepts it: %v, RefPartPattern: %v", s, got, !got)
		}
	})
}
