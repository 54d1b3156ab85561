package link

import (
	"net/url"
	"strings"
	"testing"
)

func TestMessengerURL(t *testing.T) {
	for _, c := range []struct {
		name, page, ref, text string
		want                  string
	}{
		{"username", "johnsmith55", "", "", "https://m.me/johnsmith55"},
		{"page id", "1234567890", "", "", "https://m.me/1234567890"},
		{"username keeps its case and periods", "John.Smith55", "", "", "https://m.me/John.Smith55"},
		{"username of digits longer than an id", strings.Repeat("1", 21), "", "", "https://m.me/" + strings.Repeat("1", 21)},
		{"ref", "johnsmith55", "summer_coupon", "", "https://m.me/johnsmith55?ref=summer_coupon"},
		{"text alone starts the query", "johnsmith55", "", "Hi", "https://m.me/johnsmith55?text=Hi"},
		{"ref before text", "johnsmith55", "summer", "Hi", "https://m.me/johnsmith55?ref=summer&text=Hi"},
		{"space as %20 (Meta's example)", "johnsmith55", "", "Hello and Welcome",
			"https://m.me/johnsmith55?text=Hello%20and%20Welcome"},
		{"unicode text as UTF-8 bytes", "johnsmith55", "", "Café ☕", "https://m.me/johnsmith55?text=Caf%C3%A9%20%E2%98%95"},
		{"newline and tab", "johnsmith55", "", "a\nb\tc", "https://m.me/johnsmith55?text=a%0Ab%09c"},
		{"reserved characters", "johnsmith55", "", "1+1=2 & ?#/%;'", "https://m.me/johnsmith55?text=1%2B1%3D2%20%26%20%3F%23%2F%25%3B%27"},
		{"unreserved characters kept", "johnsmith55", "", "a-b_c.d~e", "https://m.me/johnsmith55?text=a-b_c.d~e"},
		{"'=' in a ref is escaped", "johnsmith55", "eyJ9==", "", "https://m.me/johnsmith55?ref=eyJ9%3D%3D"},
		{"encoded ref fields", "1234567890", "tutorial--738--value1", "",
			"https://m.me/1234567890?ref=tutorial--738--value1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := MessengerURL(c.page, c.ref, c.text)
			if err != nil || got != c.want {
				t.Errorf("MessengerURL(%q, %q, %q) = %q, %v; want %q", c.page, c.ref, c.text, got, err, c.want)
			}
		})
	}
}

func TestMessengerURLErrors(t *testing.T) {
	for _, c := range []struct {
		name, page, ref, text string
		field, rule           string
	}{
		{"no page", "", "", "", "page.id", "must not be empty"},
		{"digits too long for an id or a username", strings.Repeat("1", 51), "", "", "page.id", "must be at most 20 characters"},
		{"short username", "abc", "", "", "page.username", "must be at least 5 characters"},
		{"username with '_'", "john_smith", "", "", "page.username", "found '_'"},
		{"page with a path", "johnsmith55/x", "", "", "page.username", "found '/'"},
		{"ref with a space", "johnsmith55", "summer coupon", "", "ref", "found ' '"},
		{"ref too long", "johnsmith55", strings.Repeat("r", 251), "", "ref", "at most 250"},
		{"text with a control character", "johnsmith55", "", "a\x00", "text", "control characters"},
		{"text too long", "johnsmith55", "", strings.Repeat("a", 1001), "text", "at most 1000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := MessengerURL(c.page, c.ref, c.text)
			if got != "" {
				t.Errorf("MessengerURL returned %q with an error", got)
			}
			checkFieldError(t, "MessengerURL", c.page, err, c.field, c.rule)
		})
	}
}

func TestRecurringURL(t *testing.T) {
	for _, c := range []struct {
		name, page, topic, cadence, ref string
		want                            string
	}{
		{"Meta's example", "mypage", "weekly deals", CadenceWeekly, "",
			"https://m.me/rn/mypage?topic=weekly%20deals&cadence=weekly"},
		{"empty cadence written as daily", "mypage", "news", "", "", "https://m.me/rn/mypage?topic=news&cadence=daily"},
		{"monthly", "1234567890", "news", CadenceMonthly, "", "https://m.me/rn/1234567890?topic=news&cadence=monthly"},
		{"ref last", "mypage", "news", CadenceDaily, "rn_qr", "https://m.me/rn/mypage?topic=news&cadence=daily&ref=rn_qr"},
		{"unicode topic", "mypage", "Ofertas de café", "", "",
			"https://m.me/rn/mypage?topic=Ofertas%20de%20caf%C3%A9&cadence=daily"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RecurringURL(c.page, c.topic, c.cadence, c.ref)
			if err != nil || got != c.want {
				t.Errorf("RecurringURL(%q, %q, %q, %q) = %q, %v; want %q", c.page, c.topic, c.cadence, c.ref, got, err, c.want)
			}
		})
	}
}

func TestRecurringURLErrors(t *testing.T) {
	for _, c := range []struct {
		name, page, topic, cadence, ref string
		field, rule                     string
	}{
		{"bad page", "abc", "news", "", "", "page.username", "at least 5"},
		{"no topic", "mypage", "", "", "", "topic", "must not be empty"},
		{"topic with punctuation", "mypage", "news!", "", "", "topic", "found '!'"},
		{"unknown cadence", "mypage", "news", "hourly", "", "cadence", "must be one of"},
		{"cadence in capitals", "mypage", "news", "Weekly", "", "cadence", "must be one of"},
		{"bad ref", "mypage", "news", "", "a&b", "ref", "found '&'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RecurringURL(c.page, c.topic, c.cadence, c.ref)
			if got != "" {
				t.Errorf("RecurringURL returned %q with an error", got)
			}
			checkFieldError(t, "RecurringURL", c.topic, err, c.field, c.rule)
		})
	}
}

// TestMessengerURLAllocs holds the builder to one allocation: the returned string.
func TestMessengerURLAllocs(t *testing.T) {
	for _, args := range [][3]string{
		{"johnsmith55", "", ""},
		{"1234567890", "summer_coupon", "Hello and Welcome"},
		{"johnsmith55", "tutorial--738--value1", strings.Repeat("Café ☕ ", 100)},
	} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := MessengerURL(args[0], args[1], args[2]); err != nil {
				t.Fatal(err)
			}
		})
		if n != 1 {
			t.Errorf("MessengerURL(%q, %q, %.20q...) allocates %v times, want 1", args[0], args[1], args[2], n)
		}
	}
	n := testing.AllocsPerRun(100, func() {
		if _, err := RecurringURL("mypage", "weekly deals", "", "rn_qr"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 1 {
		t.Errorf("RecurringURL allocates %v times, want 1", n)
	}
}

// queryEscape is the reference encoder: net/url's, with '+' (which only ever stands for a space there)
// turned into %20.
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func TestEscapeMatchesNetURL(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, s := range []string{"", "plain", "a b+c", string(all), "Café ☕ 🎉", "\xff\xfe"} {
		var b strings.Builder
		writeParam(&b, '?', "q=", s)
		if got, want := b.String(), "?q="+queryEscape(s); got != want {
			t.Errorf("writeParam(%q) wrote %q, want %q", s, got, want)
		}
		if got := escapedLen(s); got != b.Len()-len("?q=") {
			t.Errorf("escapedLen(%q) = %d, but %d bytes were written", s, got, b.Len()-len("?q="))
		}
	}
}

// FuzzMessengerURL checks that MessengerURL never panics, fails exactly when a validator does, and that
// net/url reads back the page, ref and text from every link it builds.
func FuzzMessengerURL(f *testing.F) {
	f.Add("johnsmith55", "", "")
	f.Add("1234567890", "summer_coupon", "Hello and Welcome")
	f.Add("John.Smith55", "a=b-c", "Café ☕\nline 2\t+1 & 100%")
	f.Add("", "", "")
	f.Add("abc", "a b", "\x00")
	f.Fuzz(func(t *testing.T, page, ref, text string) {
		u, err := MessengerURL(page, ref, text)
		valid := validatePage(page) == nil &&
			(ref == "" || ValidateRef(ref) == nil) && (text == "" || ValidateText(text) == nil)
		if (err == nil) != valid {
			t.Fatalf("MessengerURL(%q, %q, %q) = %v, but the validators say valid: %v", page, ref, text, err, valid)
		}
		if err != nil {
			return
		}
		if strings.Contains(u, "+") {
			t.Fatalf("link %q contains '+'", u)
		}
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", u, err)
		}
		q := parsed.Query()
		if parsed.Scheme != "https" || parsed.Host != "m.me" || parsed.Path != "/"+page ||
			q.Get("ref") != ref || q.Get("text") != text || len(q) != btoi(ref != "")+btoi(text != "") {
			t.Fatalf("link %q reads back as path %q, query %q; want path %q, ref %q, text %q",
				u, parsed.Path, q, "/"+page, ref, text)
		}
		if want := "ref=" + queryEscape(ref); ref != "" && !strings.HasPrefix(parsed.RawQuery, want) {
			t.Fatalf("query %q does not start with %q", parsed.RawQuery, want)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func BenchmarkMessengerURL(b *testing.B) {
	for _, bc := range []struct{ name, page, ref, text string }{
		{"short", "johnsmith55", "", ""},                                                  // a 24-character link
		{"medium", "johnsmith55", "summer", "Hi there"},                                   // 51 characters
		{"long", "1234567890", "tutorial--738--value1", strings.Repeat("Hello you ", 68)}, // 1,007 characters
	} {
		u, err := MessengerURL(bc.page, bc.ref, bc.text)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(u)))
			for b.Loop() {
				if _, err := MessengerURL(bc.page, bc.ref, bc.text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRecurringURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RecurringURL("mypage", "weekly deals", CadenceWeekly, "rn_qr"); err != nil {
			b.Fatal(err)
		}
	}
}
