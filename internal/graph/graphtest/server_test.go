package graphtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	page  = "1000000001"
	token = "EAAGpageTokenForTests"
	psid  = "24601"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newServer(t *testing.T, opts ...Option) (*Server, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := New(append([]Option{WithClock(clk.now)}, opts...)...)
	t.Cleanup(s.Close)
	s.AddPage(page, token)
	return s, clk
}

type result struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r result) errorField(k string) any {
	e, _ := r.body["error"].(map[string]any)
	return e[k]
}

func (r result) code() int {
	c, _ := r.errorField("code").(float64)
	return int(c)
}

func (r result) subcode() int {
	c, _ := r.errorField("error_subcode").(float64)
	return int(c)
}

func do(t *testing.T, s *Server, method, path, tok, body string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// optinBody returns a valid opt-in request body after applying edit to its decoded form.
func optinBody(edit func(m map[string]any, payload map[string]any)) string {
	payload := map[string]any{
		"template_type": "notification_messages", "title": "Weekly deals", "payload": "p",
		"image_url": "https://example.com/x.png", "image_aspect_ratio": "SQUARE",
		"notification_messages_timezone": "Europe/Paris", "notification_messages_cta_text": "GET_UPDATES",
	}
	m := map[string]any{
		"recipient": map[string]any{"id": psid},
		"message":   map[string]any{"attachment": map[string]any{"type": "template", "payload": payload}},
	}
	if edit != nil {
		edit(m, payload)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const messages = "/v23.0/" + page + "/messages"

func TestSuccessShape(t *testing.T) {
	s, _ := newServer(t)
	r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if r.status != 200 || r.body["recipient_id"] != psid || !strings.HasPrefix(r.body["message_id"].(string), "m_") {
		t.Fatalf("answer %d %s", r.status, r.raw)
	}
	r2 := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "Other" }))
	if r2.body["message_id"] == r.body["message_id"] {
		t.Error("two messages got the same ID")
	}
	if r.header.Get("X-Business-Use-Case-Usage") == "" || r.header.Get("X-App-Usage") == "" {
		t.Errorf("usage headers missing: %v", r.header)
	}

	nested, _ := newServer(t, WithNestedSuccess())
	n := do(t, nested, http.MethodPost, messages, token, optinBody(nil))
	rec, _ := n.body["recipient"].(map[string]any)
	if n.status != 200 || rec["id"] != psid || rec["message_id"] == nil {
		t.Errorf("nested answer %d %s", n.status, n.raw)
	}
}

func TestBodyValidation(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		param string // must appear in the message
		sub   int
	}{
		{"not JSON", "recipient=1", "recipient", 0},
		{"no recipient", optinBody(func(m, _ map[string]any) { delete(m, "recipient") }), "recipient", 0},
		{"recipient not a PSID", optinBody(func(m, _ map[string]any) { m["recipient"] = map[string]any{"id": "bob"} }), "No matching user", 2018001},
		{"text message", optinBody(func(m, _ map[string]any) { m["message"] = map[string]any{"text": "hi"} }), "message[attachment]", 0},
		{"attachment type", optinBody(func(m, _ map[string]any) {
			m["message"].(map[string]any)["attachment"].(map[string]any)["type"] = "image"
		}), "message[attachment][type]", 0},
		{"template type", optinBody(func(_, p map[string]any) { p["template_type"] = "generic" }), "[template_type]", 0},
		{"no title", optinBody(func(_, p map[string]any) { delete(p, "title") }), "[title]", 0},
		{"66-character title", optinBody(func(_, p map[string]any) { p["title"] = strings.Repeat("x", 66) }), "[title]", 0},
		{"cta", optinBody(func(_, p map[string]any) { p["notification_messages_cta_text"] = "SUBSCRIBE" }), "[notification_messages_cta_text]", 0},
		{"aspect ratio", optinBody(func(_, p map[string]any) { p["image_aspect_ratio"] = "TALL" }), "[image_aspect_ratio]", 0},
		{"timezone", optinBody(func(_, p map[string]any) { p["notification_messages_timezone"] = "Mars/Olympus" }), "[notification_messages_timezone]", 0},
		{"image url", optinBody(func(_, p map[string]any) { p["image_url"] = "not a url" }), "[image_url]", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t)
			r := do(t, s, http.MethodPost, messages, token, tt.body)
			msg, _ := r.errorField("message").(string)
			if r.status != 400 || r.code() != 100 || r.subcode() != tt.sub || !strings.Contains(msg, tt.param) {
				t.Fatalf("answer %d %s; want 400 code 100/%d naming %q", r.status, r.raw, tt.sub, tt.param)
			}
			if r.errorField("type") != "OAuthException" || r.errorField("fbtrace_id") == nil {
				t.Errorf("error body lacks type or fbtrace_id: %s", r.raw)
			}
		})
	}
	s, _ := newServer(t)
	if r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = strings.Repeat("é", 65) })); r.status != 200 {
		t.Errorf("65-character title refused: %s", r.raw)
	}
}

func TestTokenAndPageChecks(t *testing.T) {
	s, _ := newServer(t)
	tests := []struct {
		name          string
		method, path  string
		tok           string
		status, code  int
		sub           int
		wwwAuthHeader bool
	}{
		{"missing token", http.MethodPost, messages, "", 400, 190, 0, true},
		{"wrong token", http.MethodPost, messages, "EAAGother", 400, 190, 0, true},
		{"unknown page", http.MethodPost, "/v23.0/777/messages", token, 400, 100, 33, false},
		{"GET", http.MethodGet, messages, token, 400, 100, 0, false},
		{"unknown path", http.MethodPost, "/v23.0/" + page + "/feed", token, 400, 2500, 0, false},
		{"bad version", http.MethodPost, "/latest/" + page + "/messages", token, 400, 2500, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, tt.method, tt.path, tt.tok, optinBody(nil))
			if r.status != tt.status || r.code() != tt.code || r.subcode() != tt.sub {
				t.Fatalf("answer %d %s; want %d code %d/%d", r.status, r.raw, tt.status, tt.code, tt.sub)
			}
			if got := r.header.Get("WWW-Authenticate") != ""; got != tt.wwwAuthHeader {
				t.Errorf("WWW-Authenticate present = %v", got)
			}
		})
	}

	// Graph API also takes the token in the query; the emulator records where it came from.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost,
		s.URL+messages+"?access_token="+token, strings.NewReader(optinBody(func(_, p map[string]any) { p["title"] = "Q" })))
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	if resp.StatusCode != 200 || last.TokenSource != "query" || !strings.Contains(last.URL, "access_token=") {
		t.Errorf("query token: status %d, recorded %q %q", resp.StatusCode, last.TokenSource, last.URL)
	}
	for _, r := range reqs {
		if v := r.Header.Get("Authorization"); v != "" && v != "[REDACTED]" {
			t.Errorf("Authorization recorded as %q", v)
		}
	}
	if first := reqs[0]; first.Method != http.MethodPost || first.PageID != page || first.Send == nil || first.Status != 400 || first.ErrorCode != 190 {
		t.Errorf("first record = %+v", first)
	}
}

func TestWeeklyTitleRule(t *testing.T) {
	s, clk := newServer(t)
	post := func(recipient, title string) result {
		return do(t, s, http.MethodPost, messages, token, optinBody(func(m, p map[string]any) {
			m["recipient"] = map[string]any{"id": recipient}
			p["title"] = title
		}))
	}
	if r := post(psid, "Deals"); r.status != 200 {
		t.Fatalf("first: %s", r.raw)
	}
	r := post(psid, "Deals")
	if r.code() != 613 || r.subcode() != 1893016 || r.errorField("error_user_title") == nil || r.errorField("error_user_msg") == nil {
		t.Fatalf("same title again: %d %s; want 613/1893016 with user title and message", r.status, r.raw)
	}
	if r := post(psid, "Other deals"); r.status != 200 {
		t.Errorf("other title refused: %s", r.raw)
	}
	if r := post("24602", "Deals"); r.status != 200 {
		t.Errorf("other person refused: %s", r.raw)
	}
	clk.advance(Week - time.Second)
	if r := post(psid, "Deals"); r.code() != 613 {
		t.Errorf("within the week: %s", r.raw)
	}
	clk.advance(time.Second)
	if r := post(psid, "Deals"); r.status != 200 {
		t.Errorf("after a week: %s", r.raw)
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests kept after Reset", n)
	}
	if r := post(psid, "Deals"); r.status != 200 {
		t.Errorf("weekly rule survived Reset: %s", r.raw)
	}
}

func TestFaults(t *testing.T) {
	t.Run("FailNext n times by recipient", func(t *testing.T) {
		s, _ := newServer(t)
		s.FailNext(psid, 2, 0, 0, 2)
		for i := range 2 {
			if r := do(t, s, http.MethodPost, messages, token, optinBody(nil)); r.status != 500 || r.code() != 2 {
				t.Fatalf("request %d: %d %s", i, r.status, r.raw)
			}
		}
		if r := do(t, s, http.MethodPost, messages, token, optinBody(nil)); r.status != 200 {
			t.Fatalf("third request: %s", r.raw)
		}
	})
	t.Run("plain 5xx without a Graph body", func(t *testing.T) {
		s, _ := newServer(t)
		s.FailNext(page, 0, 0, 502, 1)
		r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
		if r.status != 502 || r.body != nil || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Fatalf("answer %d %q %s", r.status, r.header.Get("Content-Type"), r.raw)
		}
	})
	t.Run("SetFault by title with custom body", func(t *testing.T) {
		s, _ := newServer(t)
		s.SetFault(Match{Title: "Blocked"}, Fault{Code: 10, Subcode: 1893063, HTTPStatus: 403, Message: "region", UserTitle: "u"})
		if r := do(t, s, http.MethodPost, messages, token, optinBody(nil)); r.status != 200 {
			t.Fatalf("unmatched title failed: %s", r.raw)
		}
		for range 2 { // Times 0: every matching request
			r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "Blocked" }))
			if r.status != 403 || r.code() != 10 || r.subcode() != 1893063 || r.errorField("message") != "region" {
				t.Fatalf("answer %d %s", r.status, r.raw)
			}
		}
		s.ClearFaults()
		if r := do(t, s, http.MethodPost, messages, token, optinBody(func(_, p map[string]any) { p["title"] = "Blocked" })); r.status != 200 {
			t.Errorf("after ClearFaults: %s", r.raw)
		}
	})
	t.Run("latency then normal answer", func(t *testing.T) {
		s, _ := newServer(t)
		s.SetFault(Match{PageID: page}, Fault{Latency: 30 * time.Millisecond, Times: 1})
		s.FailNext(page, 4, 0, 0, 1) // a latency fault does not hide a later error fault
		start := time.Now()
		r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
		if time.Since(start) < 30*time.Millisecond || r.code() != 4 {
			t.Fatalf("answer after %v: %s", time.Since(start), r.raw)
		}
		s.mu.Lock()
		left := len(s.faults)
		s.mu.Unlock()
		if left != 0 {
			t.Errorf("%d faults left after their single use", left)
		}
		if r := do(t, s, http.MethodPost, messages, token, optinBody(nil)); r.status != 200 {
			t.Errorf("second answer: %s", r.raw)
		}
	})
	t.Run("closed connection", func(t *testing.T) {
		s, _ := newServer(t)
		s.SetFault(Match{}, Fault{CloseConnection: true, Times: 1})
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+messages, strings.NewReader(optinBody(nil)))
		resp, err := s.Client().Do(req)
		if err == nil {
			_ = resp.Body.Close()
			t.Fatal("want a network error")
		}
		if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != 0 {
			t.Errorf("records = %+v, want one with status 0", reqs)
		}
	})
}

func TestServeWithoutListener(t *testing.T) {
	h := NewHandler()
	defer h.Close()
	h.AddPage(page, token)
	req := httptest.NewRequest(http.MethodPost, messages, strings.NewReader(optinBody(nil)))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"recipient_id":"24601"`)) {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if h.Client() != http.DefaultClient || h.URL != "" {
		t.Error("a handler without listener claims a URL or client")
	}
}
