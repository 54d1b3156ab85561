package tally

import "github.com/mmelink/operator/internal/delivery"

// MaxTokenLength bounds a recurring-notification token: longer "tokens" are not Meta's and are not
// stored, in either mode.
const MaxTokenLength = 512

// The states of a stored token. A topic counts its tokens by state: total = active + stopped.
const (
	TokenActive  = "active"
	TokenStopped = "stopped"
)

// SetsToken reports whether ev sets the state of a recurring-notification token: an opt-in, stop or
// resume that carries a token Meta could have issued. The token is its own idempotency key: the newest
// event per token decides its state, however often each is delivered.
func SetsToken(ev *delivery.Event) bool {
	return ev.Kind == delivery.KindNotificationOptIn && ev.OptIn.Token != "" && len(ev.OptIn.Token) <= MaxTokenLength
}

// TokenState is the state ev sets: stopped by a stop, active by an opt-in, a resume, or a status Meta
// adds later (the token can be used).
func TokenState(ev *delivery.Event) string {
	if ev.OptIn.Status == delivery.StatusStop {
		return TokenStopped
	}
	return TokenActive
}

// NewOptIn reports whether ev is a new opt-in (not a stop or resume): it sets the token's opt-in time
// when none is set.
func NewOptIn(ev *delivery.Event) bool { return ev.OptIn.Status == delivery.StatusOptIn }

// Confirms reports whether ev confirms the topic's registration: a new opt-in from the registration's
// recipient (recipient: the event's sender is spec.registration.recipientID).
func Confirms(ev *delivery.Event, recipient bool) bool { return recipient && NewOptIn(ev) }
