package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an error answered by Graph API, or an HTTP failure that carried no Graph error body (then Code
// is 0 and HTTPStatus says what happened). Classify it with Classify and Reason; its fields are safe to
// show in a status condition (the client scrubs the access token from them).
type Error struct {
	// HTTPStatus is the status code of the response.
	HTTPStatus int
	// Code is Graph API's error code ("code"), 0 when the body was not a Graph error.
	Code int
	// Subcode is Graph API's "error_subcode", 0 when absent.
	Subcode int
	// Type is Graph API's error type, e.g. "OAuthException".
	Type string
	// Message is the developer message.
	Message string
	// UserTitle is "error_user_title", a title meant for a person.
	UserTitle string
	// UserMessage is "error_user_msg", a message meant for a person.
	UserMessage string
	// FBTraceID is Meta's support identifier for this failure.
	FBTraceID string
	// IsTransient is Graph API's "is_transient": Meta's own word that retrying may succeed. It decides
	// only for codes this package does not know (see Classify); absent means false.
	IsTransient bool
	// RetryAfter is how long the client refuses further calls for the page after a throttling error;
	// 0 for other errors.
	RetryAfter time.Duration
}

// Error renders the error as "graph: (#code/subcode) message (user title: user message) [fbtrace_id id]".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Code == 0 {
		fmt.Fprintf(&b, "HTTP %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
		return b.String()
	}
	b.WriteString("(#")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Subcode != 0 {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(e.Subcode))
	}
	b.WriteString(") ")
	// Meta's messages usually repeat the code as a "(#100) " prefix; say it once.
	b.WriteString(strings.TrimPrefix(e.Message, "(#"+strconv.Itoa(e.Code)+") "))
	switch {
	case e.UserTitle != "" && e.UserMessage != "":
		fmt.Fprintf(&b, " (%s: %s)", e.UserTitle, e.UserMessage)
	case e.UserTitle != "" || e.UserMessage != "":
		fmt.Fprintf(&b, " (%s%s)", e.UserTitle, e.UserMessage)
	}
	if e.FBTraceID != "" {
		fmt.Fprintf(&b, " [fbtrace_id %s]", e.FBTraceID)
	}
	return b.String()
}

// ThrottledError is returned without any network call while the client pauses calls for a page, after a
// throttling error or a usage header at 100 percent.
type ThrottledError struct {
	// PageID is the paused Page.
	PageID string
	// RetryAfter is how long the pause still lasts.
	RetryAfter time.Duration
}

// Error says which page is paused and for how long.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("graph: calls for page %s paused by rate limiting for another %s",
		e.PageID, e.RetryAfter.Round(time.Millisecond))
}

// ValidationError reports a request rejected locally, before any network call. Field names the offending
// parameter as Graph API spells it (e.g. "title", "notification_messages_cta_text").
type ValidationError struct {
	// Field is the parameter at fault.
	Field string
	// Problem says what is wrong with it.
	Problem string
}

// Error names the field and the problem.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("graph: invalid request: %s: %s", e.Field, e.Problem)
}

// RetryAfter returns how long to wait before calling again when err is a throttling error whose wait is
// known (a local pause, or a throttling answer from Graph API).
func RetryAfter(err error) (time.Duration, bool) {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter, true
	}
	var ge *Error
	if errors.As(err, &ge) && ge.RetryAfter > 0 {
		return ge.RetryAfter, true
	}
	return 0, false
}

// graphErrorBody is the JSON shape of Graph API's error answers. Meta documents numbers for code and
// error_subcode and a boolean for is_transient; SDKs generated from its specs type them as strings, so
// both are read.
type graphErrorBody struct {
	Error *struct {
		Message     string   `json:"message"`
		Type        string   `json:"type"`
		Code        number   `json:"code"`
		Subcode     number   `json:"error_subcode"`
		IsTransient flexBool `json:"is_transient"`
		UserTitle   string   `json:"error_user_title"`
		UserMessage string   `json:"error_user_msg"`
		FBTraceID   string   `json:"fbtrace_id"`
	} `json:"error"`
}

// flexBool accepts true, false, "true", "false" and null; anything else is false.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	*b = flexBool(strings.EqualFold(strings.Trim(string(data), `"`), "true"))
	return nil
}

// parseError turns a failed response into an *Error; a body that is not a Graph error (or whose code is
// not a positive whole number) leaves Code at 0.
func parseError(status int, header http.Header, body []byte) *Error {
	e := &Error{HTTPStatus: status}
	var gb graphErrorBody
	if json.Unmarshal(body, &gb) == nil && gb.Error != nil {
		if code, ok := gb.Error.Code.id(); ok {
			e.Code = code
			e.Subcode, _ = gb.Error.Subcode.id()
			e.Type = gb.Error.Type
			e.Message = gb.Error.Message
			e.UserTitle = gb.Error.UserTitle
			e.UserMessage = gb.Error.UserMessage
			e.FBTraceID = gb.Error.FBTraceID
			e.IsTransient = bool(gb.Error.IsTransient)
		}
	}
	if e.FBTraceID == "" {
		e.FBTraceID = header.Get("X-Fb-Trace-Id")
	}
	return e
}

// redactedError hides a secret from the text of an error it wraps.
type redactedError struct {
	err    error
	secret string
}

func (r *redactedError) Error() string {
	return strings.ReplaceAll(r.err.Error(), r.secret, "[REDACTED]")
}

func (r *redactedError) Unwrap() error { return r.err }

// redact makes sure secret appears nowhere in err's text. A Graph error echoing its input, or a proxy's
// error page, must not carry a token into a status condition or a log line.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	var ge *Error
	if errors.As(err, &ge) {
		for _, f := range []*string{&ge.Type, &ge.Message, &ge.UserTitle, &ge.UserMessage, &ge.FBTraceID} {
			*f = strings.ReplaceAll(*f, secret, "[REDACTED]")
		}
	}
	if strings.Contains(err.Error(), secret) {
		return &redactedError{err: err, secret: secret}
	}
	return err
}
