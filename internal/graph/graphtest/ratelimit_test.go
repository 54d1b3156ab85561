package graphtest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

type bucEntry struct {
	Type         string `json:"type"`
	CallCount    int    `json:"call_count"`
	TotalCPUTime int    `json:"total_cputime"`
	TotalTime    int    `json:"total_time"`
	Regain       int    `json:"estimated_time_to_regain_access"`
}

func parseBUC(t *testing.T, h http.Header) map[string][]bucEntry {
	t.Helper()
	var m map[string][]bucEntry
	if err := json.Unmarshal([]byte(h.Get("X-Business-Use-Case-Usage")), &m); err != nil {
		t.Fatalf("X-Business-Use-Case-Usage %q: %v", h.Get("X-Business-Use-Case-Usage"), err)
	}
	return m
}

func parseCounts(t *testing.T, v string) map[string]int {
	t.Helper()
	var m map[string]int
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatalf("usage header %q: %v", v, err)
	}
	return m
}

func TestThrottleHeaders(t *testing.T) {
	s, clk := newServer(t)
	s.Throttle(page, 5)
	r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if r.status != 400 || r.code() != 80006 || r.errorField("error_user_title") == nil || r.errorField("error_user_msg") == nil {
		t.Fatalf("answer %d %s", r.status, r.raw)
	}
	buc := parseBUC(t, r.header)
	want := bucEntry{Type: "messenger", CallCount: 100, TotalCPUTime: 100, TotalTime: 100, Regain: 5}
	if e := buc[page]; len(e) != 1 || e[0] != want {
		t.Errorf("BUC = %+v, want {%s: [%+v]}", buc, page, want)
	}
	if c := parseCounts(t, r.header.Get("X-Page-Usage")); c["call_count"] != 100 {
		t.Errorf("X-Page-Usage = %v", c)
	}

	clk.advance(150 * time.Second) // 2.5 minutes left: Meta rounds up
	r = do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if e := parseBUC(t, r.header)[page]; r.code() != 80006 || len(e) != 1 || e[0].Regain != 3 {
		t.Errorf("after 2.5m: %s, BUC %+v; want regain 3", r.raw, e)
	}
	clk.advance(150 * time.Second)
	r = do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if r.status != 200 {
		t.Fatalf("after the regain time: %s", r.raw)
	}
	if e := parseBUC(t, r.header)[page]; len(e) != 1 || e[0].CallCount != 0 || e[0].Regain != 0 {
		t.Errorf("normal BUC = %+v", e)
	}
	if st := s.RateStats(page); st.Requests != 3 || st.Rejected != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSetUsage(t *testing.T) {
	s, _ := newServer(t)
	s.SetUsage(page, 87)
	r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if c := parseCounts(t, r.header.Get("X-App-Usage")); r.status != 200 || c["call_count"] != 87 || c["total_time"] != 87 {
		t.Errorf("answer %d, X-App-Usage %v", r.status, c)
	}
}

func TestRateLimit(t *testing.T) {
	s, clk := newServer(t)
	s.SetRateLimit(page, 2, 2)
	titles := []string{"a", "b", "c", "d", "e"}
	var ok, limited int
	for _, title := range titles {
		r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = title }))
		switch {
		case r.status == 200:
			ok++
		case r.code() == 32:
			limited++
			if c := parseCounts(t, r.header.Get("X-Page-Usage")); c["call_count"] != 100 {
				t.Errorf("X-Page-Usage on a limited answer = %v", c)
			}
			if e := parseBUC(t, r.header)[page]; len(e) != 1 || e[0].CallCount != 100 {
				t.Errorf("BUC on a limited answer = %+v", e)
			}
		default:
			t.Fatalf("unexpected answer %d %s", r.status, r.raw)
		}
	}
	if ok != 2 || limited != 3 {
		t.Errorf("burst of 5 at one instant: %d accepted, %d limited; want 2, 3", ok, limited)
	}
	st := s.RateStats(page)
	if st.Requests != 5 || st.Rejected != 3 || st.MaxPerSecond != 5 {
		t.Errorf("stats = %+v", st)
	}

	clk.advance(500 * time.Millisecond) // one token back at 2/s
	if r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "f" })); r.status != 200 {
		t.Errorf("after 0.5s: %s", r.raw)
	}
	if r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "g" })); r.code() != 32 {
		t.Errorf("second after 0.5s: %s", r.raw)
	}
	clk.advance(2 * time.Second)
	do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "h" }))
	if st := s.RateStats(page); st.MaxPerSecond != 7 || st.Requests != 8 {
		t.Errorf("stats after spreading = %+v, want max 7 within one second, 8 requests", st)
	}

	s.SetRateLimit(page, 0, 0)
	clk.advance(time.Millisecond)
	for _, title := range []string{"i", "j", "k"} {
		if r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = title })); r.status != 200 {
			t.Fatalf("limit removed, still refused: %s", r.raw)
		}
	}
}

// Each endpoint counts against its business use case: throttling answers that use case's code, and
// X-Business-Use-Case-Usage names its type, on refusals and on normal answers alike.
func TestThrottlePerUseCase(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		code                     int
		typ                      string
	}{
		{"Send API", http.MethodPost, messages, optinBody(nil), 80006, "messenger"},
		{"Messenger Profile", http.MethodGet, "/v23.0/me/messenger_profile?fields=get_started", "", 80006, "messenger"},
		{"subscribed_apps", http.MethodGet, "/v23.0/" + page + "/subscribed_apps", "", 80001, "pages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newServer(t)
			s.SetUsage(page, 12)
			if r := do(t, s, tt.method, tt.path, token, tt.body); r.status != 200 || parseBUC(t, r.header)[page][0] !=
				(bucEntry{Type: tt.typ, CallCount: 12, TotalCPUTime: 12, TotalTime: 12}) {
				t.Fatalf("normal answer %d, BUC %q", r.status, r.header.Get("X-Business-Use-Case-Usage"))
			}
			s.Throttle(page, 3)
			r := do(t, s, tt.method, tt.path, token, tt.body)
			if r.status != 400 || r.code() != tt.code || r.errorField("is_transient") != true {
				t.Fatalf("throttled answer %d %s, want 400 with code %d", r.status, r.raw, tt.code)
			}
			want := bucEntry{Type: tt.typ, CallCount: 100, TotalCPUTime: 100, TotalTime: 100, Regain: 3}
			if e := parseBUC(t, r.header)[page]; len(e) != 1 || e[0] != want {
				t.Errorf("BUC = %+v, want [%+v]", e, want)
			}
			clk.advance(3 * time.Minute)
			body := tt.body
			if tt.path == messages { // another title: the weekly rule refuses the same one
				body = optinBody(func(_, p map[string]any) { p["title"] = "Other deals" })
			}
			if r := do(t, s, tt.method, tt.path, token, body); r.status != 200 {
				t.Errorf("after the regain time: %d %s", r.status, r.raw)
			}
		})
	}
}
