package graph

import (
	"net/http"
	"testing"
	"time"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name      string
		h         http.Header
		max       float64
		regain    time.Duration
		exhausted bool
	}{
		{"none", header(), 0, 0, false},
		{"app usage", header(HeaderAppUsage, `{"call_count":28,"total_time":25,"total_cputime":25}`), 28, 0, false},
		{"page usage at 100", header(HeaderPageUsage, `{"call_count":100,"total_time":7,"total_cputime":3}`), 100, 0, true},
		{"cpu at 100", header(HeaderAppUsage, `{"call_count":1,"total_time":1,"total_cputime":100}`), 100, 0, true},
		{"floats and strings", header(HeaderAppUsage, `{"call_count":"42.5","total_time":1.5,"total_cputime":null}`), 42.5, 0, false},
		{"buc regain", header(HeaderBusinessUseCaseUsage,
			`{"1234":[{"type":"messenger","call_count":100,"total_cputime":10,"total_time":10,"estimated_time_to_regain_access":7}]}`),
			100, 7 * time.Minute, true},
		{"buc regain below 100 percent", header(HeaderBusinessUseCaseUsage,
			`{"1":[{"type":"messenger","call_count":40,"estimated_time_to_regain_access":2}],"2":[{"type":"pages","call_count":10}]}`),
			40, 2 * time.Minute, true},
		{"buc normal", header(HeaderBusinessUseCaseUsage,
			`{"1":[{"type":"messenger","call_count":3,"total_cputime":1,"total_time":2,"estimated_time_to_regain_access":0}]}`),
			3, 0, false},
		{"regain capped at a day", header(HeaderBusinessUseCaseUsage, `{"1":[{"estimated_time_to_regain_access":1e12}]}`),
			0, 24 * time.Hour, true},
		// Meta documents the regain time only in X-Business-Use-Case-Usage; elsewhere it is honoured too.
		{"page usage regain", header(HeaderPageUsage, `{"call_count":100,"total_time":3,"total_cputime":3,"estimated_time_to_regain_access":12}`),
			100, 12 * time.Minute, true},
		{"app usage regain as a string", header(HeaderAppUsage, `{"call_count":20,"estimated_time_to_regain_access":"1.5"}`),
			20, 90 * time.Second, true},
		{"longest regain of several", header(HeaderAppUsage, `{"estimated_time_to_regain_access":3}`, HeaderBusinessUseCaseUsage,
			`{"1":[{"type":"messenger","estimated_time_to_regain_access":9}],"2":[{"type":"pages","estimated_time_to_regain_access":4}]}`),
			0, 9 * time.Minute, true},
		{"several entries for one ID", header(HeaderBusinessUseCaseUsage,
			`{"1":[{"type":"pages","call_count":12},{"type":"messenger","call_count":99,"total_time":100}]}`), 100, 0, true},
		{"header key case", header("x-business-use-case-usage", `{"1":[{"type":"messenger","estimated_time_to_regain_access":1}]}`),
			0, time.Minute, true},
		{"negative regain ignored", header(HeaderBusinessUseCaseUsage, `{"1":[{"estimated_time_to_regain_access":-5}]}`), 0, 0, false},
		{"percent capped", header(HeaderAppUsage, `{"call_count":1e300}`), 1000, 0, true},
		// Malformed headers are ignored.
		{"garbage", header(HeaderAppUsage, `not json`, HeaderPageUsage, `{"call_count":`), 0, 0, false},
		{"wrong types", header(HeaderAppUsage, `{"call_count":{"x":1}}`, HeaderBusinessUseCaseUsage, `{"1":{"type":"x"}}`), 0, 0, false},
		{"NaN string", header(HeaderAppUsage, `{"call_count":"NaN"}`, HeaderBusinessUseCaseUsage,
			`{"1":[{"estimated_time_to_regain_access":"Inf"}]}`), 0, 0, false},
		{"array", header(HeaderBusinessUseCaseUsage, `[1,2,3]`), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := ParseUsage(tt.h)
			if got := u.MaxPercent(); got != tt.max {
				t.Errorf("MaxPercent = %v, want %v", got, tt.max)
			}
			if got := u.RegainAfter(); got != tt.regain {
				t.Errorf("RegainAfter = %v, want %v", got, tt.regain)
			}
			if got := u.Exhausted(); got != tt.exhausted {
				t.Errorf("Exhausted = %v, want %v", got, tt.exhausted)
			}
		})
	}
}

func TestParseUsageFields(t *testing.T) {
	u := ParseUsage(header(HeaderBusinessUseCaseUsage,
		`{"1234":[{"type":"messenger","call_count":95,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":0}]}`,
		HeaderAppUsage, `{"call_count":5,"total_time":6,"total_cputime":7}`))
	want := BusinessUseCaseUsage{Type: "messenger", CallCount: 95, TotalCPUTime: 20, TotalTime: 30}
	if got := u.BusinessUseCase["1234"]; len(got) != 1 || got[0] != want {
		t.Errorf("BusinessUseCase = %+v, want [%+v]", got, want)
	}
	if u.App == nil || *u.App != (UsageCounts{CallCount: 5, TotalTime: 6, TotalCPUTime: 7}) {
		t.Errorf("App = %+v", u.App)
	}
	if u.Page != nil {
		t.Errorf("Page = %+v, want nil for an absent header", u.Page)
	}
}

func FuzzParseUsage(f *testing.F) {
	f.Add(`{"call_count":100}`, `{"1":[{"estimated_time_to_regain_access":3}]}`)
	f.Add(`{"call_count":"1e400"}`, `{"1":[null]}`)
	f.Fuzz(func(t *testing.T, counts, buc string) {
		u := ParseUsage(header(HeaderAppUsage, counts, HeaderPageUsage, counts, HeaderBusinessUseCaseUsage, buc))
		if p := u.MaxPercent(); p < 0 || p > 1000 {
			t.Errorf("MaxPercent = %v outside [0, 1000]", p)
		}
		if d := u.RegainAfter(); d < 0 || d > maxRegain {
			t.Errorf("RegainAfter = %v outside [0, %v]", d, maxRegain)
		}
	})
}

func TestLimiter(t *testing.T) {
	l := newLimiter()
	t0 := time.Unix(1_700_000_000, 0)
	if d := l.remaining("p", t0); d != 0 {
		t.Fatalf("fresh limiter pauses for %v", d)
	}
	l.pause("p", t0.Add(time.Minute))
	l.pause("p", t0.Add(time.Second)) // a shorter pause must not shorten the existing one
	if d := l.remaining("p", t0); d != time.Minute {
		t.Errorf("remaining = %v, want 1m", d)
	}
	if d := l.remaining("other", t0); d != 0 {
		t.Errorf("another page is paused for %v", d)
	}
	if d := l.remaining("p", t0.Add(time.Minute)); d != 0 {
		t.Errorf("remaining after the pause = %v", d)
	}
	if len(l.until) != 0 {
		t.Errorf("expired pauses kept: %v", l.until)
	}
}
