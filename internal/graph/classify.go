package graph

import (
	"errors"
	"net/http"
)

// Class says what a caller should do about an error.
type Class string

const (
	// Transient errors go away by themselves: retry with backoff.
	Transient Class = "Transient"
	// Throttled errors come from rate limiting: retry after RetryAfter (or backoff when it is unknown).
	Throttled Class = "Throttled"
	// Permanent errors need a person (a new token, a permission, a changed spec) or a long wait that the
	// caller must not spend looping: do not retry.
	Permanent Class = "Permanent"
)

// Reasons are stable CamelCase names for error causes, meant for condition reasons.
const (
	// ReasonInvalidToken: the access token is invalid or expired (190, 102): re-authenticate.
	ReasonInvalidToken = "InvalidToken"
	// ReasonPermissionDenied: the app or token lacks a permission or capability (3, 10, 200-299).
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonRateLimited: throttling (4, 17, 32, 341, 613, 80000-80014, HTTP 429, usage at 100 percent).
	ReasonRateLimited = "RateLimited"
	// ReasonRequestLimitReached: a per-person frequency rule: one opt-in request per title per person per
	// week (613/1893016), one notification per token per 48 hours (4/2018354). Retrying soon cannot help.
	ReasonRequestLimitReached = "RequestLimitReached"
	// ReasonTopicRestricted: recurring notifications are not available for this Page, app or region
	// (10/1893063, 10/1404170, 9/2018352).
	ReasonTopicRestricted = "TopicRestricted"
	// ReasonRecipientOptedOut: the person stopped notifications (10/1893015).
	ReasonRecipientOptedOut = "RecipientOptedOut"
	// ReasonRecipientUnavailable: the person cannot be messaged now: 551, or outside the 24-hour messaging
	// window (10/2018278, 10/2534022).
	ReasonRecipientUnavailable = "RecipientUnavailable"
	// ReasonPolicyBlocked: the Page or app is temporarily blocked for a policy violation (368).
	ReasonPolicyBlocked = "PolicyBlocked"
	// ReasonInvalidRequest: a parameter is invalid (100), or local validation failed.
	ReasonInvalidRequest = "InvalidRequest"
	// ReasonTransient: an outage: codes 1 and 2, Messenger's temporary send failure (1200), an unknown code
	// that Meta marks is_transient, HTTP 5xx, network errors, timeouts.
	ReasonTransient = "Transient"
	// ReasonUnexpectedResponse: a non-Graph answer that is neither a server error nor throttling (e.g. a
	// proxy's 404 page, a redirect): usually a wrong base URL.
	ReasonUnexpectedResponse = "UnexpectedResponse"
	// ReasonGraphError: a Graph error code this package does not know; treated as permanent.
	ReasonGraphError = "GraphError"
)

// Graph API codes and subcodes the classification names.
const (
	subcodeOnePerTitlePerWeek    = 1893016 // with 613
	subcodeOnePerToken48h        = 2018354 // with 4
	subcodeStoppedNotifications  = 1893015 // with 10
	subcodeTopicNotAllowed       = 1893063 // with 10
	subcodeFeatureNotAvailable   = 1404170 // with 10
	subcodeNotificationsDisabled = 2018352 // with 9
	subcodeOutsideWindow         = 2018278 // with 10: "Message sent outside of allowed window"
	subcodeOutsideWindowIG       = 2534022 // with 10: the same refusal, as Instagram messaging answers it
	codeTemporarySendFailure     = 1200    // "Temporary send message failure. Please try again later."
)

// Classify says whether err is worth retrying. It returns "" for nil. Errors this package did not make
// (context cancellation, network failures) are Transient.
func Classify(err error) Class {
	c, _ := classify(err)
	return c
}

// Reason gives a stable CamelCase cause for err (one of the Reason constants), "" for nil.
func Reason(err error) string {
	_, r := classify(err)
	return r
}

func classify(err error) (Class, string) {
	if err == nil {
		return "", ""
	}
	var te *ThrottledError
	if errors.As(err, &te) {
		return Throttled, ReasonRateLimited
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return Permanent, ReasonInvalidRequest
	}
	var ge *Error
	if errors.As(err, &ge) {
		return classifyError(ge)
	}
	return Transient, ReasonTransient
}

// classifyError follows the retry / do-not-retry table of the platform reference (section 6): by code and
// subcode first; for a code it does not know, by Meta's is_transient; by HTTP status only after that.
func classifyError(e *Error) (Class, string) {
	if c, r, ok := classifyCode(e.Code, e.Subcode); ok {
		return c, r
	}
	switch {
	case e.Code != 0 && e.IsTransient:
		return Transient, ReasonTransient
	case e.HTTPStatus == http.StatusTooManyRequests:
		return Throttled, ReasonRateLimited
	case e.HTTPStatus >= 500, e.HTTPStatus == http.StatusRequestTimeout:
		return Transient, ReasonTransient
	case e.HTTPStatus >= 200 && e.HTTPStatus < 300:
		// A success status with an unreadable body: the message may have gone out. Retrying is safe
		// because Meta refuses a second request with the same title (613/1893016).
		return Transient, ReasonTransient
	case e.Code == 0:
		return Permanent, ReasonUnexpectedResponse
	default:
		return Permanent, ReasonGraphError
	}
}

// classifyCode maps a Graph error code and subcode; ok is false for codes it does not know.
func classifyCode(code, subcode int) (c Class, reason string, ok bool) {
	// Subcode exceptions first: they override their code's general rule.
	switch {
	case code == 613 && subcode == subcodeOnePerTitlePerWeek,
		code == 4 && subcode == subcodeOnePerToken48h:
		return Permanent, ReasonRequestLimitReached, true
	case code == 10 && subcode == subcodeStoppedNotifications:
		return Permanent, ReasonRecipientOptedOut, true
	case code == 10 && (subcode == subcodeOutsideWindow || subcode == subcodeOutsideWindowIG):
		// Code 10 is "permission denied" in general, but this refusal needs a message from the person,
		// not a permission.
		return Permanent, ReasonRecipientUnavailable, true
	case code == 10 && (subcode == subcodeTopicNotAllowed || subcode == subcodeFeatureNotAvailable),
		code == 9 && subcode == subcodeNotificationsDisabled:
		return Permanent, ReasonTopicRestricted, true
	}
	switch {
	case code == 1, code == 2, code == codeTemporarySendFailure:
		return Transient, ReasonTransient, true
	case code == 4, code == 17, code == 32, code == 341, code == 613,
		code >= 80000 && code <= 80014:
		return Throttled, ReasonRateLimited, true
	case code == 190, code == 102:
		// 102 is "API Session": Meta's docs say the session or token expired, so it is a token problem.
		return Permanent, ReasonInvalidToken, true
	case code == 3, code == 10, code >= 200 && code <= 299:
		// 3 is "API Method": the app lacks the capability or permission for the call.
		return Permanent, ReasonPermissionDenied, true
	case code == 100:
		return Permanent, ReasonInvalidRequest, true
	case code == 368:
		return Permanent, ReasonPolicyBlocked, true
	case code == 551:
		return Permanent, ReasonRecipientUnavailable, true
	}
	return "", "", false
}

// outcome is the metrics label for a class: "success" for nil.
func outcome(c Class) string {
	switch c {
	case "":
		return "success"
	case Throttled:
		return "throttled"
	case Permanent:
		return "permanent"
	default:
		return "transient"
	}
}
