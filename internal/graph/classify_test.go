package graph

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestClassifyReferenceTable covers every code of the platform reference's retry / do-not-retry table
// (section 6), plus the boundaries around them.
func TestClassifyReferenceTable(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		code    int
		subcode int
		class   Class
		reason  string
	}{
		// Retry with backoff.
		{"1 unknown", 500, 1, 0, Transient, ReasonTransient},
		{"1200 temporary send failure on a 400", 400, 1200, 2018024, Transient, ReasonTransient},
		{"2 service", 503, 2, 0, Transient, ReasonTransient},
		{"4 app limit", 400, 4, 0, Throttled, ReasonRateLimited},
		{"17 user limit", 400, 17, 0, Throttled, ReasonRateLimited},
		{"32 page limit", 400, 32, 0, Throttled, ReasonRateLimited},
		{"341 application limit", 400, 341, 0, Throttled, ReasonRateLimited},
		{"613 rate limit", 400, 613, 0, Throttled, ReasonRateLimited},
		{"613 other subcode", 400, 613, 1996, Throttled, ReasonRateLimited},
		{"80000", 400, 80000, 0, Throttled, ReasonRateLimited},
		{"80006 messenger", 400, 80006, 0, Throttled, ReasonRateLimited},
		{"80014", 400, 80014, 0, Throttled, ReasonRateLimited},
		{"5xx without body", 502, 0, 0, Transient, ReasonTransient},
		{"408 without body", 408, 0, 0, Transient, ReasonTransient},
		{"429 without body", 429, 0, 0, Throttled, ReasonRateLimited},
		// Do not retry.
		{"10 permission", 403, 10, 0, Permanent, ReasonPermissionDenied},
		{"100 invalid parameter", 400, 100, 0, Permanent, ReasonInvalidRequest},
		{"100/33 unknown object", 400, 100, 33, Permanent, ReasonInvalidRequest},
		{"102 session", 400, 102, 0, Permanent, ReasonInvalidToken},
		{"190 token", 400, 190, 0, Permanent, ReasonInvalidToken},
		{"190/458 app not installed", 400, 190, 458, Permanent, ReasonInvalidToken},
		{"190/459 user checkpointed", 400, 190, 459, Permanent, ReasonInvalidToken},
		{"190/460 password changed", 400, 190, 460, Permanent, ReasonInvalidToken},
		{"190/463 token expired", 400, 190, 463, Permanent, ReasonInvalidToken},
		{"190/464 unconfirmed user", 400, 190, 464, Permanent, ReasonInvalidToken},
		{"190/467 invalid token", 400, 190, 467, Permanent, ReasonInvalidToken},
		{"190/492 invalid session", 400, 190, 492, Permanent, ReasonInvalidToken},
		{"3 capability", 400, 3, 0, Permanent, ReasonPermissionDenied},
		{"230 pages_messaging", 403, 230, 0, Permanent, ReasonPermissionDenied},
		{"200 permission", 403, 200, 0, Permanent, ReasonPermissionDenied},
		{"250 permission", 403, 250, 0, Permanent, ReasonPermissionDenied},
		{"299 permission", 403, 299, 0, Permanent, ReasonPermissionDenied},
		{"551 person unavailable", 400, 551, 0, Permanent, ReasonRecipientUnavailable},
		{"551/1545041 person unavailable", 400, 551, 1545041, Permanent, ReasonRecipientUnavailable},
		// Code 10 is a permission error in general, but not when the 24-hour window has closed.
		{"10/2018278 outside the messaging window", 400, 10, 2018278, Permanent, ReasonRecipientUnavailable},
		{"10/2534022 outside the messaging window", 400, 10, 2534022, Permanent, ReasonRecipientUnavailable},
		{"10/2018065 other permission subcode", 400, 10, 2018065, Permanent, ReasonPermissionDenied},
		{"368 policy block", 400, 368, 0, Permanent, ReasonPolicyBlocked},
		{"4/2018354 one per token per 48h", 400, 4, 2018354, Permanent, ReasonRequestLimitReached},
		{"9/2018352", 400, 9, 2018352, Permanent, ReasonTopicRestricted},
		{"10/1404170", 400, 10, 1404170, Permanent, ReasonTopicRestricted},
		{"10/1893015 stopped", 400, 10, 1893015, Permanent, ReasonRecipientOptedOut},
		{"10/1893063", 400, 10, 1893063, Permanent, ReasonTopicRestricted},
		{"613/1893016 one per title per week", 400, 613, 1893016, Permanent, ReasonRequestLimitReached},
		// Boundaries and unknowns.
		{"79999 unknown", 400, 79999, 0, Permanent, ReasonGraphError},
		{"80015 unknown", 400, 80015, 0, Permanent, ReasonGraphError},
		{"300 unknown", 400, 300, 0, Permanent, ReasonGraphError},
		{"unknown code on a 5xx", 500, 12345, 0, Transient, ReasonTransient},
		{"404 page from a proxy", 404, 0, 0, Permanent, ReasonUnexpectedResponse},
		{"redirect", 302, 0, 0, Permanent, ReasonUnexpectedResponse},
		{"unreadable success", 200, 0, 0, Transient, ReasonTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("wrapped: %w", &Error{HTTPStatus: tt.status, Code: tt.code, Subcode: tt.subcode})
			if got := Classify(err); got != tt.class {
				t.Errorf("Classify = %q, want %q", got, tt.class)
			}
			if got := Reason(err); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
		})
	}
}

func TestClassifyOtherErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		class  Class
		reason string
	}{
		{"nil", nil, "", ""},
		{"local pause", &ThrottledError{PageID: "1", RetryAfter: time.Second}, Throttled, ReasonRateLimited},
		{"validation", &ValidationError{Field: "title", Problem: "is required"}, Permanent, ReasonInvalidRequest},
		{"network", fmt.Errorf("graph: x: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), Transient, ReasonTransient},
		{"canceled", fmt.Errorf("graph: x: %w", context.Canceled), Transient, ReasonTransient},
		{"deadline", context.DeadlineExceeded, Transient, ReasonTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.class {
				t.Errorf("Classify = %q, want %q", got, tt.class)
			}
			if got := Reason(tt.err); got != tt.reason {
				t.Errorf("Reason = %q, want %q", got, tt.reason)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{HTTPStatus: 400, Code: 613, Subcode: 1893016, Message: "(#613) Calls to this api have exceeded the rate limit.",
			UserTitle: "Limit", UserMessage: "One per week.", FBTraceID: "AbC"},
			"graph: (#613/1893016) Calls to this api have exceeded the rate limit. (Limit: One per week.) [fbtrace_id AbC]"},
		{&Error{HTTPStatus: 400, Code: 190, Message: "Invalid OAuth access token", FBTraceID: "X"},
			"graph: (#190) Invalid OAuth access token [fbtrace_id X]"},
		{&Error{HTTPStatus: 400, Code: 100, Message: "bad", UserMessage: "only a message"},
			"graph: (#100) bad (only a message)"},
		{&Error{HTTPStatus: 503}, "graph: HTTP 503 Service Unavailable"},
		{&Error{HTTPStatus: 200, Message: "unreadable success answer"}, "graph: HTTP 200 OK: unreadable success answer"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q\nwant      %q", got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	if d, ok := RetryAfter(fmt.Errorf("x: %w", &ThrottledError{RetryAfter: 3 * time.Second})); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter(ThrottledError) = %v, %v", d, ok)
	}
	if d, ok := RetryAfter(&Error{Code: 4, RetryAfter: time.Minute}); !ok || d != time.Minute {
		t.Errorf("RetryAfter(Error with wait) = %v, %v", d, ok)
	}
	for _, err := range []error{nil, &Error{Code: 2}, errors.New("x")} {
		if _, ok := RetryAfter(err); ok {
			t.Errorf("RetryAfter(%v) reported a wait", err)
		}
	}
}

func TestRedact(t *testing.T) {
	const secret = "EAAGsecretTOKEN"
	ge := &Error{HTTPStatus: 400, Code: 100, Message: "token " + secret + " bad", UserMessage: secret}
	err := redact(fmt.Errorf("ctx: %w", ge), secret)
	if strings.Contains(err.Error(), secret) || strings.Contains(ge.Message, secret) || strings.Contains(ge.UserMessage, secret) {
		t.Errorf("secret survived redaction: %q", err)
	}
	other := redact(errors.New("dial "+secret), secret)
	if strings.Contains(other.Error(), secret) || !strings.Contains(other.Error(), "[REDACTED]") {
		t.Errorf("redact(plain error) = %q", other)
	}
	if redact(nil, secret) != nil {
		t.Error("redact(nil) is not nil")
	}
}
