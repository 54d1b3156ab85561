// Package delivery verifies and parses one Meta Messenger webhook delivery: the raw POST body and its
// X-Hub-Signature-256 header. It turns the envelope into normalized referral and opt-in events and
// knows nothing of Kubernetes; the webhook server resolves events to the objects they belong to.
//
// Parsing is strict about the envelope's shape (objects and arrays where Meta documents them) and lenient
// about scalars: IDs and timestamps may be strings or numbers, booleans may be strings, unknown fields
// are ignored. A delivery that fails here is answered with an error and retried by Meta, and an hour of
// failures unsubscribes the app, so only a body that cannot be Meta's is rejected.
package delivery

import "time"

// ObjectPage is the envelope object of Messenger deliveries; the only one whose events are returned.
const ObjectPage = "page"

// Kind names the kinds of event the operator tracks.
type Kind string

// Tracked event kinds.
const (
	// KindPostbackReferral is a new conversation started from an m.me link: the ref arrives in
	// postback.referral once the person taps Get Started.
	KindPostbackReferral Kind = "postback_referral"
	// KindReferral is an existing conversation reopened from a link: a top-level referral object.
	KindReferral Kind = "referral"
	// KindMessageReferral is the first message from a click-to-Messenger ad: message.referral.
	KindMessageReferral Kind = "message_referral"
	// KindOptIn is a Send-to-Messenger plugin or checkbox opt-in (optin.ref, optin.user_ref): an optin
	// without a type. One-time-notification requests and customer-matching accepts are not tracked.
	KindOptIn Kind = "optin"
	// KindNotificationOptIn is a recurring-notification opt-in, stop or resume
	// (optin.type == "notification_messages").
	KindNotificationOptIn Kind = "notification_optin"
)

// Status is the normalized notification_messages_status of a recurring-notification opt-in.
type Status string

// Known statuses. Meta writes them with spaces or underscores in either case; other values are kept,
// upper-cased with underscores.
const (
	// StatusOptIn is a new opt-in: the event carries no status.
	StatusOptIn Status = ""
	// StatusStop means the person stopped notifications for the token.
	StatusStop Status = "STOP_NOTIFICATIONS"
	// StatusResume means the person resumed notifications for the token.
	StatusResume Status = "RESUME_NOTIFICATIONS"
)

// Delivery is one parsed webhook POST.
type Delivery struct {
	// Object is the envelope object. Deliveries for objects other than ObjectPage carry no events.
	Object string
	// Events are the tracked events of every entry, in order: entry by entry, messaging before standby.
	Events []Event
	// Ignored counts page events of kinds the operator does not track: plain messages and postbacks,
	// echoes, reads, deliveries, reactions and the like.
	Ignored int
	// Skipped counts page events that could not be read: an object or array where Meta's documents put
	// something else, as in the test delivery of the app dashboard ("message":"TEST_MESSAGE").
	Skipped int
}

// Event is one normalized referral or opt-in. Only the sub-struct matching Kind is filled.
type Event struct {
	Kind Kind
	// PageID is recipient.id, or the entry id when the event has no recipient.
	PageID string
	// SenderID is the person's page-scoped ID (PSID); empty for checkbox opt-ins.
	SenderID string
	// UserRef is sender.user_ref (chat plugin) or optin.user_ref (checkbox plugin).
	UserRef string
	// Time is the event timestamp, or the entry time when the event has none; zero if neither.
	Time time.Time
	// Standby is true for events from the standby channel (another app owns the thread).
	Standby bool
	// MID is the message ID of the postback or message carrying the referral, when present.
	MID string

	Referral Referral
	OptIn    OptIn

	// Fingerprint identifies the event across redeliveries; see fingerprint.go for what it covers.
	Fingerprint [16]byte
}

// Referral is the referral object of the three referral kinds.
type Referral struct {
	Ref string
	// Source is an open set: SHORTLINK, ADS, MESSENGER_CODE, DISCOVER_TAB, CUSTOMER_CHAT_PLUGIN, ...
	Source string
	// Type is OPEN_THREAD, or LEAD_COMPLETE / LEAD_INCOMPLETE for lead ads.
	Type        string
	AdID        string
	RefererURI  string
	IsGuestUser bool
}

// OptIn is the optin object of the two opt-in kinds.
type OptIn struct {
	// Ref is the plugin's data-ref, or the ref of an m.me/rn link.
	Ref     string
	UserRef string
	Type    string
	Title   string
	Payload string
	// Token is notification_messages_token: what later sends address. It is a credential of sorts:
	// keep it out of logs and status.
	Token string
	// Topic is notification_messages_topic (m.me/rn opt-ins).
	Topic string
	// Frequency is the legacy notification_messages_frequency (DAILY, WEEKLY, MONTHLY).
	Frequency string
	Timezone  string
	// TokenExpiry is token_expiry_timestamp; zero when absent (tokens stopped expiring in 2023).
	TokenExpiry time.Time
	// UserTokenStatus is REFRESHED or NOT_REFRESHED.
	UserTokenStatus string
	Status          Status
	Source          string
}
