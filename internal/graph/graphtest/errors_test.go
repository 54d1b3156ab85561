package graphtest

import (
	"net/http"
	"strings"
	"testing"
)

// TestErrorAnswers checks what the emulator answers for a programmed Graph error, code by code: Meta's
// HTTP status, is_transient where Meta sets it, and a message like Meta's.
func TestErrorAnswers(t *testing.T) {
	tests := []struct {
		name      string
		fault     Fault
		status    int
		transient bool
		message   string
	}{
		{"1 unknown", Fault{Code: 1}, 500, true, "An unknown error occurred"},
		{"2 service", Fault{Code: 2}, 500, true, "Please retry your request later"},
		{"4 app limit", Fault{Code: 4}, 400, true, "(#4) Application request limit reached"},
		{"17 user limit", Fault{Code: 17}, 400, true, "(#17) User request limit reached"},
		{"32 page limit", Fault{Code: 32}, 400, true, "(#32) Page request limit reached"},
		{"613 rate limit", Fault{Code: 613}, 400, true, "(#613) Calls to this api have exceeded the rate limit."},
		{"80006 messenger", Fault{Code: 80006}, 400, true, "(#80006)"},
		{"1200 temporary send failure", Fault{Code: 1200, Subcode: 2018024}, 400, true, "Temporary send message failure"},
		// Frequency rules per person are not lifted by waiting minutes.
		{"613/1893016 weekly rule", Fault{Code: 613, Subcode: 1893016}, 400, false, "(#613)"},
		{"4/2018354 one per 48 hours", Fault{Code: 4, Subcode: 2018354}, 400, false, "(#4)"},
		{"3 capability", Fault{Code: 3}, 400, false, "(#3) Application does not have the capability"},
		{"10 permission", Fault{Code: 10}, 403, false, "(#10) Application does not have permission"},
		{"10/2018278 outside the window", Fault{Code: 10, Subcode: 2018278}, 403, false, "outside of allowed window"},
		{"200 permission", Fault{Code: 200}, 403, false, "(#200) Requires pages_messaging permission"},
		{"230 permission", Fault{Code: 230}, 403, false, "(#230)"},
		{"100 parameter", Fault{Code: 100}, 400, false, "(#100) Invalid parameter"},
		{"190 token", Fault{Code: 190}, 400, false, "Invalid OAuth access token"},
		{"190/463 expired", Fault{Code: 190, Subcode: 463}, 400, false, "Session has expired"},
		{"190/460 password changed", Fault{Code: 190, Subcode: 460}, 400, false, "changed their password"},
		{"368 policy", Fault{Code: 368}, 400, false, "(#368)"},
		{"551 unavailable", Fault{Code: 551, Subcode: 1545041}, 400, false, "(#551) This person isn't available right now."},
		// What a test programs wins over the defaults.
		{"explicit status", Fault{Code: 2, HTTPStatus: 503}, 503, true, "Please retry"},
		{"explicit is_transient", Fault{Code: 4242, IsTransient: true, Message: "custom"}, 400, true, "custom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t)
			f := tt.fault
			f.Times = 1
			s.SetFault(Match{PageID: page}, f)
			r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
			if r.status != tt.status || r.code() != tt.fault.Code || r.subcode() != tt.fault.Subcode {
				t.Fatalf("answer %d %s, want %d with code %d/%d", r.status, r.raw, tt.status, tt.fault.Code, tt.fault.Subcode)
			}
			transient, present := r.errorField("is_transient").(bool)
			if transient != tt.transient || (present && !transient) {
				t.Errorf("is_transient = %v (present %v), want %v, and absent rather than false", transient, present, tt.transient)
			}
			msg, _ := r.errorField("message").(string)
			if !strings.Contains(msg, tt.message) {
				t.Errorf("message %q lacks %q", msg, tt.message)
			}
			trace, _ := r.errorField("fbtrace_id").(string)
			if trace == "" || r.header.Get("X-Fb-Trace-Id") != trace || r.errorField("type") != "OAuthException" {
				t.Errorf("fbtrace_id %q, header %q, type %v", trace, r.header.Get("X-Fb-Trace-Id"), r.errorField("type"))
			}
		})
	}
}

// The emulator's own refusals carry is_transient as Meta's do: throttling yes, a bad request no.
func TestOwnErrorsTransient(t *testing.T) {
	s, _ := newServer(t)
	if r := do(t, s, http.MethodPost, messages, token, `{}`); r.code() != 100 || r.errorField("is_transient") != nil {
		t.Errorf("invalid request: %s", r.raw)
	}
	s.Throttle(page, 2)
	if r := do(t, s, http.MethodPost, messages, token, optinBody(nil)); r.code() != 80006 || r.errorField("is_transient") != true {
		t.Errorf("throttled: %s", r.raw)
	}
}

// A revoked or expired token is refused with the subcode that says why, on every endpoint; a token
// Meta never issued cannot be parsed.
func TestInvalidatedTokens(t *testing.T) {
	const other = "EAAGotherPageToken"
	tests := []struct {
		name       string
		invalidate func(s *Server, tok string)
		subcode    int
		message    string
	}{
		{"revoked", (*Server).RevokeToken, 460, "changed their password"},
		{"expired", (*Server).ExpireToken, 463, "Session has expired"},
		{"never issued", func(*Server, string) {}, 0, "Cannot parse access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t)
			tok := token
			if tt.subcode == 0 {
				tok = "EAAGneverIssued"
			}
			s.AddPageToken(page, other, TokenOptions{Permissions: AllPermissions})
			tt.invalidate(s, tok)
			for _, call := range []struct{ method, path, body string }{
				{http.MethodPost, messages, optinBody(nil)},
				{http.MethodGet, "/v23.0/" + page + "/subscribed_apps", ""},
				{http.MethodGet, "/v23.0/me/messenger_profile?fields=get_started", ""},
			} {
				r := do(t, s, call.method, call.path, tok, call.body)
				msg, _ := r.errorField("message").(string)
				if r.status != 400 || r.code() != 190 || r.subcode() != tt.subcode || !strings.Contains(msg, tt.message) {
					t.Errorf("%s %s: %d %s, want 400 190/%d %q", call.method, call.path, r.status, r.raw, tt.subcode, tt.message)
				}
				if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
					t.Errorf("%s %s: WWW-Authenticate %q", call.method, call.path, r.header.Get("WWW-Authenticate"))
				}
			}
			// The Page's other token still works, and re-issuing the token makes it valid again.
			if r := do(t, s, http.MethodPost, messages, other, optinBody(nil)); r.status != 200 {
				t.Errorf("other token: %s", r.raw)
			}
			s.AddPageToken(page, tok, TokenOptions{Permissions: AllPermissions})
			if r := do(t, s, http.MethodGet, "/v23.0/"+page+"/subscribed_apps", tok, ""); r.status != 200 {
				t.Errorf("re-issued token: %s", r.raw)
			}
		})
	}
}
