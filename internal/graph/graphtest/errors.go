package graphtest

import (
	"bytes"
	"fmt"
	"net/http"
)

// What Meta answers for an error code: the body's shape, the HTTP status and is_transient, and messages
// resembling Meta's. Sources: Graph API "Handling Errors" (error object, codes 1-613), Messenger Platform
// "Common Error Codes", answers quoted in public issue threads (is_transient on throttling, 1200/2018024).

// graphError is an error answer in Meta's shape.
type graphError struct {
	status      int // 0: statusFor(code)
	code        int
	subcode     int
	typ         string
	message     string
	userTitle   string
	userMessage string
	header      http.Header
	// transient forces "is_transient": true; otherwise transientCode decides.
	transient bool
}

// statusFor is the HTTP status Meta answers with a code: most errors are 400, permission errors 403, and
// the unknown and service errors 500.
func statusFor(code int) int {
	switch {
	case code == 1, code == 2:
		return http.StatusInternalServerError
	case code == 10, code >= 200 && code <= 299:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// transientCode reports whether Meta marks an error is_transient: outages (1, 2, 1200) and throttling
// (4, 17, 32, 341, 613, 80000-80014), except the per-person frequency rules, which waiting minutes
// cannot lift.
func transientCode(code, subcode int) bool {
	switch {
	case code == 613 && subcode == 1893016, code == 4 && subcode == 2018354:
		return false
	case code == 1, code == 2, code == 1200, code == 4, code == 17, code == 32, code == 341, code == 613,
		code >= 80000 && code <= 80014:
		return true
	}
	return false
}

// defaultMessage resembles Meta's message for a code and subcode.
func defaultMessage(code, subcode int) string {
	switch {
	case code == 10 && subcode == 2018278:
		return "(#10) This message is sent outside of allowed window."
	case code == 10 && subcode == 1893015:
		return "(#10) The person has stopped notifications from this Page."
	case code == 190 && subcode == 458:
		return "Error validating access token: The user has not authorized application."
	case code == 190 && subcode == 460:
		return msgPasswordChanged
	case code == 190 && subcode == 463:
		return msgSessionExpired
	case code == 190 && subcode == 467:
		return "Error validating access token: The access token is invalid."
	case code == 551 && subcode == 1545041:
		return "(#551) This person isn't available right now."
	}
	switch code {
	case 1:
		return "An unknown error occurred"
	case 2:
		return "An unexpected error has occurred. Please retry your request later."
	case 3:
		return "(#3) Application does not have the capability to make this API call."
	case 4:
		return "(#4) Application request limit reached"
	case 10:
		return "(#10) Application does not have permission for this action"
	case 17:
		return "(#17) User request limit reached"
	case 32:
		return "(#32) Page request limit reached"
	case 100:
		return "(#100) Invalid parameter"
	case 190:
		return msgCannotParse
	case 200:
		return "(#200) Requires pages_messaging permission to manage the object"
	case 230:
		return "(#230) Requires pages_messaging permission to manage the object"
	case 368:
		return "(#368) The action attempted has been deemed abusive or is otherwise disallowed"
	case 551:
		return "(#551) This person isn't available right now."
	case 613:
		return "(#613) Calls to this api have exceeded the rate limit."
	case 1200:
		return "(#1200) Temporary send message failure. Please try again later."
	case 80001:
		return "(#80001) There have been too many calls to this Page account. Wait a bit and try again."
	case 80006:
		return "(#80006) There have been too many messenger api calls to this Page account. Wait a bit and try again."
	}
	return fmt.Sprintf("(#%d) Emulated error", code)
}

// Messages the emulator answers itself, not only for programmed faults.
const (
	msgCannotParse     = "Invalid OAuth access token - Cannot parse access token"
	msgPasswordChanged = "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."
	msgSessionExpired  = "Error validating access token: Session has expired."
)

// writeError writes e with a fresh fbtrace_id, as Meta does.
func (s *Server) writeError(w *answer, e graphError) {
	s.mu.Lock()
	s.traceSeq++
	trace := fmt.Sprintf("AEmu%07dTrace", s.traceSeq)
	s.mu.Unlock()
	if e.typ == "" {
		e.typ = "OAuthException"
	}
	if e.status == 0 {
		e.status = statusFor(e.code)
	}
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.code, w.subcode = e.code, e.subcode
	var b bytes.Buffer
	b.WriteString(`{"error":{"message":`)
	b.WriteString(jsonString(e.message))
	fmt.Fprintf(&b, `,"type":%s`, jsonString(e.typ))
	if e.transient || transientCode(e.code, e.subcode) {
		b.WriteString(`,"is_transient":true`)
	}
	fmt.Fprintf(&b, `,"code":%d`, e.code)
	if e.subcode != 0 {
		fmt.Fprintf(&b, `,"error_subcode":%d`, e.subcode)
	}
	if e.userTitle != "" {
		fmt.Fprintf(&b, `,"error_user_title":%s`, jsonString(e.userTitle))
	}
	if e.userMessage != "" {
		fmt.Fprintf(&b, `,"error_user_msg":%s`, jsonString(e.userMessage))
	}
	fmt.Fprintf(&b, `,"fbtrace_id":%s}}`, jsonString(trace))
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Fb-Trace-Id", trace)
	if e.code == 190 {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "`+e.message+`"`)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}
