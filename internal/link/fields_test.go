package link

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// decodableRe matches exactly the refs that DecodeRef accepts (their length aside): a part, then any
// number of --id--value pairs, every part matching RefPartPattern.
var decodableRe = func() *regexp.Regexp {
	part := "(?:" + strings.TrimSuffix(strings.TrimPrefix(RefPartPattern, "^"), "$") + ")"
	return regexp.MustCompile("^" + part + "(?:--" + part + "--" + part + ")*$")
}()

func TestEncodeRef(t *testing.T) {
	for _, c := range []struct {
		name   string
		base   string
		fields []Field
		want   string
	}{
		{"no fields", "tutorial", nil, "tutorial"},
		{"empty fields", "tutorial", []Field{}, "tutorial"},
		{"Meta's example", "tutorial", []Field{{"738", "value1"}, {"514", "value2"}}, "tutorial--738--value1--514--value2"},
		{"single dashes inside parts", "summer-sale", []Field{{"utm_source", "qr-code"}}, "summer-sale--utm_source--qr-code"},
		{"base64url-like parts", "a", []Field{{"=", "eyJ9=="}}, "a--=--eyJ9=="},
		{"exactly 250 characters", strings.Repeat("r", 244), []Field{{"a", "b"}}, strings.Repeat("r", 244) + "--a--b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := EncodeRef(c.base, c.fields)
			if err != nil || got != c.want {
				t.Fatalf("EncodeRef(%q, %v) = %q, %v; want %q", c.base, c.fields, got, err, c.want)
			}
			// The round trip: decoding gives back what was encoded (no fields come back as nil).
			base, fields, err := DecodeRef(got)
			if len(c.fields) == 0 {
				c.fields = nil
			}
			if err != nil || base != c.base || !reflect.DeepEqual(fields, c.fields) {
				t.Errorf("DecodeRef(%q) = %q, %v, %v; want %q, %v", got, base, fields, err, c.base, c.fields)
			}
		})
	}
}

func TestEncodeRefErrors(t *testing.T) {
	for _, c := range []struct {
		name        string
		base        string
		fields      []Field
		field, rule string
	}{
		{"no base", "", nil, "ref", "must not be empty"},
		{"separator in the base", "a--b", nil, "ref", `must not contain "--"`},
		{"base starting with '-'", "-a", nil, "ref", "must not start or end with '-'"},
		{"base ending with '-'", "a-", []Field{{"x", "y"}}, "ref", "must not start or end with '-'"},
		{"space in the base", "a b", nil, "ref", "must match " + RefPartPattern + " (found ' ' at index 1)"},
		{"empty id", "a", []Field{{"", "x"}}, "fields[0].id", "must not be empty"},
		{"empty value", "a", []Field{{"x", ""}}, "fields[0].value", "must not be empty"},
		{"id ending with '-'", "a", []Field{{"ok", "v"}, {"id-", "x"}}, "fields[1].id", "must not start or end with '-'"},
		{"separator in a value", "a", []Field{{"x", "a--b"}}, "fields[0].value", `must not contain "--"`},
		{"non-ASCII value", "a", []Field{{"x", "é"}}, "fields[0].value", "found 'é' at index 0"},
		{"251 characters", strings.Repeat("r", 245), []Field{{"a", "b"}}, "ref",
			"with its fields encoded (ref--id--value...) must be at most 250 characters (has 251)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := EncodeRef(c.base, c.fields)
			if got != "" {
				t.Errorf("EncodeRef returned %q with an error", got)
			}
			checkFieldError(t, "EncodeRef", c.base, err, c.field, c.rule)
		})
	}
}

func TestDecodeRef(t *testing.T) {
	for _, c := range []struct {
		ref    string
		base   string
		fields []Field
	}{
		{"summer_coupon", "summer_coupon", nil},
		{"summer-sale", "summer-sale", nil},
		{"tutorial--738--value1--514--value2", "tutorial", []Field{{"738", "value1"}, {"514", "value2"}}},
		{"a-b--c-d--e-f", "a-b", []Field{{"c-d", "e-f"}}},
		{"a--=--=", "a", []Field{{"=", "="}}},
	} {
		base, fields, err := DecodeRef(c.ref)
		if err != nil || base != c.base || !reflect.DeepEqual(fields, c.fields) {
			t.Errorf("DecodeRef(%q) = %q, %v, %v; want %q, %v", c.ref, base, fields, err, c.base, c.fields)
		}
		if again, err := EncodeRef(base, fields); err != nil || again != c.ref {
			t.Errorf("EncodeRef(DecodeRef(%q)) = %q, %v", c.ref, again, err)
		}
	}
}

// TestRefCodecAllocs holds the codec to one allocation when there are fields (the string, or the slice:
// the decoded parts share the ref's memory) and none when there are not.
func TestRefCodecAllocs(t *testing.T) {
	fields := []Field{{"738", "value1"}, {"514", "value2"}}
	for _, c := range []struct {
		name string
		fn   func()
		want float64
	}{
		{"EncodeRef with fields", func() { _, _ = EncodeRef("tutorial", fields) }, 1},
		{"EncodeRef without fields", func() { _, _ = EncodeRef("tutorial", nil) }, 0},
		{"DecodeRef with fields", func() { _, _, _ = DecodeRef("tutorial--738--value1--514--value2") }, 1},
		{"DecodeRef without fields", func() { _, _, _ = DecodeRef("tutorial") }, 0},
	} {
		if n := testing.AllocsPerRun(100, c.fn); n != c.want {
			t.Errorf("%s allocates %v times, want %v", c.name, n, c.want)
		}
	}
}

func TestDecodeRefErrors(t *testing.T) {
	for _, c := range []struct {
		name        string
		ref         string
		field, rule string
	}{
		// The dangling-part rule: an id needs a value (see DecodeRef).
		{"dangling part (Meta's tutorial--456)", "tutorial--456", "ref", `has field id "456" without a value`},
		{"dangling part after a pair", "t--1--a--2", "ref", `has field id "2" without a value`},
		{"three dashes", "a---b", "fields[0].id", "must not start or end with '-'"},
		{"three dashes after an id", "a--b---c", "fields[0].value", "must not start or end with '-'"},
		{"four dashes", "a----b", "fields[0].id", "must not be empty"},
		{"leading separator", "--a", "ref", "must not start or end with '-'"},
		{"trailing separator", "a--b--", "ref", "must not start or end with '-'"},
		{"empty", "", "ref", "must not be empty"},
		{"outside RefPattern", "a b--c--d", "ref", "must match " + RefPattern},
		{"too long", strings.Repeat("r", 247) + "--a--b", "ref", "must be at most 250 characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, fields, err := DecodeRef(c.ref)
			if base != "" || fields != nil {
				t.Errorf("DecodeRef returned %q, %v with an error", base, fields)
			}
			checkFieldError(t, "DecodeRef", c.ref, err, c.field, c.rule)
		})
	}
}

func TestBaseRef(t *testing.T) {
	for _, c := range []struct{ ref, want string }{
		{"summer", "summer"},
		{"tutorial--738--value1", "tutorial"},
		{"tutorial--456", "tutorial"}, // a ref DecodeRef rejects is still attributed to its base
		{"a---b", "a"},
		{"--x", ""},
		{"", ""},
		{"not valid--x", "not valid"}, // BaseRef does not validate
	} {
		if got := BaseRef(c.ref); got != c.want {
			t.Errorf("BaseRef(%q) = %q, want %q", c.ref, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { BaseRef("tutorial--738--value1") }); n != 0 {
		t.Errorf("BaseRef allocates %v times, want 0", n)
	}
}

// FuzzRefCodec checks both round trips and that EncodeRef and DecodeRef accept exactly what the
// patterns describe.
func FuzzRefCodec(f *testing.F) {
	f.Add("tutorial", "738", "value1", "514", "value2", uint8(2))
	f.Add("summer-sale", "utm_source", "qr-code", "", "", uint8(1))
	f.Add("a", "-b", "c-", "d--e", "", uint8(2))
	f.Add("tutorial", "456", "", "", "", uint8(0))
	f.Add("a-", "", "b", "=", "=", uint8(2))
	f.Fuzz(func(t *testing.T, base, id1, value1, id2, value2 string, n uint8) {
		fields := []Field{{id1, value1}, {id2, value2}}[:n%3]

		// Valid parts: encoding succeeds exactly when the patterns say so, and decoding undoes it.
		enc, err := EncodeRef(base, fields)
		valid := refPartRe.MatchString(base)
		total := len(base)
		for _, fl := range fields {
			valid = valid && refPartRe.MatchString(fl.ID) && refPartRe.MatchString(fl.Value)
			total += 4 + len(fl.ID) + len(fl.Value)
		}
		valid = valid && total <= MaxRefLength
		if (err == nil) != valid {
			t.Fatalf("EncodeRef(%q, %q) = %q, %v; the patterns say valid: %v", base, fields, enc, err, valid)
		}
		if err == nil {
			if err := ValidateRef(enc); err != nil {
				t.Fatalf("EncodeRef(%q, %q) = %q, which ValidateRef rejects: %v", base, fields, enc, err)
			}
			b, fs, err := DecodeRef(enc)
			if len(fields) == 0 {
				fields = nil
			}
			if err != nil || b != base || !reflect.DeepEqual(fs, fields) {
				t.Fatalf("DecodeRef(%q) = %q, %q, %v; want %q, %q", enc, b, fs, err, base, fields)
			}
		}

		// Any string: what DecodeRef accepts, EncodeRef writes back unchanged.
		raw := base
		for _, fl := range fields {
			raw += "--" + fl.ID + "--" + fl.Value
		}
		for _, r := range []string{base, raw, base + "--" + id1} {
			b, fs, err := DecodeRef(r)
			if want := decodableRe.MatchString(r) && len(r) <= MaxRefLength; (err == nil) != want {
				t.Fatalf("DecodeRef(%q) = %v; the patterns say decodable: %v", r, err, want)
			}
			if err != nil {
				if b != "" || fs != nil {
					t.Fatalf("DecodeRef(%q) returned %q, %q with an error", r, b, fs)
				}
				continue
			}
			if again, err := EncodeRef(b, fs); err != nil || again != r {
				t.Fatalf("EncodeRef(DecodeRef(%q)) = %q, %v", r, again, err)
			}
			if BaseRef(r) != b {
				t.Fatalf("BaseRef(%q) = %q, but DecodeRef's base is %q", r, BaseRef(r), b)
			}
		}
	})
}

func BenchmarkRefCodec(b *testing.B) {
	const ref = "tutorial--738--value1--514--value2"
	fields := []Field{{"738", "value1"}, {"514", "value2"}}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeRef("tutorial", fields); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeRef(ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("base", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if BaseRef(ref) != "tutorial" {
				b.Fatal("wrong base")
			}
		}
	})
}
