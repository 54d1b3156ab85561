package graph

import (
	"net/http"
	"testing"
)

// TestParseError decodes Meta's error object as its docs show it, and the variants seen in the field;
// what is not a Graph error body keeps Code 0, so that only the HTTP status classifies it.
func TestParseError(t *testing.T) {
	traced := http.Header{}
	traced.Set("X-Fb-Trace-Id", "fromHeader")
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Error
		class  Class
	}{
		{name: "documented example", status: 400,
			body: `{"error":{"message":"Message describing the error","type":"OAuthException","code":190,` +
				`"error_subcode":460,"error_user_title":"A title","error_user_msg":"A message","fbtrace_id":"EJplcsCHuLu"}}`,
			want: Error{HTTPStatus: 400, Code: 190, Subcode: 460, Type: "OAuthException", Message: "Message describing the error",
				UserTitle: "A title", UserMessage: "A message", FBTraceID: "EJplcsCHuLu"},
			class: Permanent},
		{name: "rate limit with is_transient", status: 403, header: traced,
			body: `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,` +
				`"code":4,"fbtrace_id":"FlQgl+5U8pF"}}`,
			want: Error{HTTPStatus: 403, Code: 4, Type: "OAuthException", Message: "(#4) Application request limit reached",
				FBTraceID: "FlQgl+5U8pF", IsTransient: true},
			class: Throttled},
		{name: "temporary send failure", status: 400,
			body: `{"error":{"message":"(#1200) Temporary send message failure. Please try again later.","type":"OAuthException",` +
				`"code":1200,"error_subcode":2018024,"fbtrace_id":"FTsr5khdiKl"}}`,
			want: Error{HTTPStatus: 400, Code: 1200, Subcode: 2018024, Type: "OAuthException",
				Message: "(#1200) Temporary send message failure. Please try again later.", FBTraceID: "FTsr5khdiKl"},
			class: Transient},
		{name: "unknown code Meta calls transient", status: 400,
			body:  `{"error":{"message":"m","type":"OAuthException","code":4242,"is_transient":true,"fbtrace_id":"T"}}`,
			want:  Error{HTTPStatus: 400, Code: 4242, Type: "OAuthException", Message: "m", FBTraceID: "T", IsTransient: true},
			class: Transient},
		{name: "unknown code Meta calls not transient", status: 400,
			body:  `{"error":{"message":"m","type":"OAuthException","code":4242,"is_transient":false,"fbtrace_id":"T"}}`,
			want:  Error{HTTPStatus: 400, Code: 4242, Type: "OAuthException", Message: "m", FBTraceID: "T"},
			class: Permanent},
		// is_transient never overrides a code the platform reference names as permanent.
		{name: "per-person limit marked transient", status: 400,
			body:  `{"error":{"message":"m","code":613,"error_subcode":1893016,"is_transient":true}}`,
			want:  Error{HTTPStatus: 400, Code: 613, Subcode: 1893016, Message: "m", IsTransient: true},
			class: Permanent},
		{name: "numbers as strings", status: 400,
			body:  `{"error":{"message":"m","type":"OAuthException","code":"100","error_subcode":"2018001","is_transient":"false"}}`,
			want:  Error{HTTPStatus: 400, Code: 100, Subcode: 2018001, Type: "OAuthException", Message: "m"},
			class: Permanent},
		{name: "trace ID from the header when the body has none", status: 400, header: traced,
			body:  `{"error":{"message":"m","type":"GraphMethodException","code":100,"error_subcode":33}}`,
			want:  Error{HTTPStatus: 400, Code: 100, Subcode: 33, Type: "GraphMethodException", Message: "m", FBTraceID: "fromHeader"},
			class: Permanent},
		{name: "server error with a Graph body", status: 500,
			body:  `{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true}}`,
			want:  Error{HTTPStatus: 500, Code: 1, Type: "OAuthException", Message: "An unknown error occurred", IsTransient: true},
			class: Transient},
		// Not Graph error bodies: code 0, classified by status.
		{name: "empty", status: 502, header: traced, want: Error{HTTPStatus: 502, FBTraceID: "fromHeader"}, class: Transient},
		{name: "proxy page", status: 502, body: "<html>502</html>", want: Error{HTTPStatus: 502}, class: Transient},
		{name: "error as text", status: 404, body: `{"error":"not found"}`, want: Error{HTTPStatus: 404}, class: Permanent},
		{name: "code 0", status: 400, body: `{"error":{"message":"m","code":0}}`, want: Error{HTTPStatus: 400}, class: Permanent},
		{name: "negative code", status: 400, body: `{"error":{"message":"m","code":-4}}`, want: Error{HTTPStatus: 400}, class: Permanent},
		{name: "fractional code", status: 400, body: `{"error":{"message":"m","code":4.5}}`, want: Error{HTTPStatus: 400}, class: Permanent},
		{name: "code not a number", status: 400, body: `{"error":{"message":"m","code":"four"}}`, want: Error{HTTPStatus: 400}, class: Permanent},
		{name: "array", status: 429, body: `[1,2]`, want: Error{HTTPStatus: 429}, class: Throttled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := parseError(tt.status, h, []byte(tt.body))
			if *e != tt.want {
				t.Errorf("parseError =\n %+v, want\n %+v", *e, tt.want)
			}
			if got := Classify(e); got != tt.class {
				t.Errorf("Classify = %q, want %q", got, tt.class)
			}
		})
	}
}
