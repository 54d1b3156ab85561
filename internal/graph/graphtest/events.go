package graphtest

import "github.com/mmelink/operator/internal/metawebhook"

// The deliveries Meta sends are built, signed and posted by internal/metawebhook, which the kubectl
// plugin uses without the emulator; these names keep them where the tests and the demo look for them.

type (
	// Envelope is a Messenger webhook delivery: {"object":"page","entry":[...]}.
	Envelope = metawebhook.Envelope
	// Entry is one Page's part of a delivery.
	Entry = metawebhook.Entry
	// Event is one messaging event.
	Event = metawebhook.Event
	// MessageObject is the message object of a messages event.
	MessageObject = metawebhook.MessageObject
	// Party is a sender or recipient.
	Party = metawebhook.Party
	// OptinObject is the optin object of a messaging_optins event.
	OptinObject = metawebhook.OptinObject
	// ReferralObject is a referral object (messaging_referrals, postback.referral).
	ReferralObject = metawebhook.ReferralObject
	// PostbackObject is the postback object of a messaging_postbacks event.
	PostbackObject = metawebhook.PostbackObject
	// OptinEvent describes a person opting in to (or stopping, resuming) a recurring-notification topic.
	OptinEvent = metawebhook.OptinEvent
	// ReferralEvent describes a person arriving through an m.me link (or an ad, a plugin).
	ReferralEvent = metawebhook.ReferralEvent
	// PluginOptinEvent describes a Send-to-Messenger or checkbox-plugin opt-in.
	PluginOptinEvent = metawebhook.PluginOptinEvent
)

// Values of notification_messages_status.
const (
	StatusStop   = metawebhook.StatusStop
	StatusResume = metawebhook.StatusResume
)

// The builders' functions, by the names the tests and the demo call (see internal/metawebhook).
var (
	// NotificationToken is the token the emulator gives a person's opt-in to a Page's topic.
	NotificationToken = metawebhook.NotificationToken
	// Deliver posts a webhook delivery signed as Meta signs it.
	Deliver = metawebhook.Deliver
	// NewDeliveryRequest returns the POST of a webhook delivery signed as Meta signs it.
	NewDeliveryRequest = metawebhook.NewDeliveryRequest
	// EncodeEnvelope returns the bytes Meta signs for an envelope.
	EncodeEnvelope = metawebhook.EncodeEnvelope
	// EscapeNonASCII rewrites every non-ASCII character of JSON text as \uXXXX, as Meta does before signing.
	EscapeNonASCII = metawebhook.EscapeNonASCII
	// Optin, Referral, PostbackReferral and PluginOptin deliver one event of their kind.
	Optin            = metawebhook.Optin
	Referral         = metawebhook.Referral
	PostbackReferral = metawebhook.PostbackReferral
	PluginOptin      = metawebhook.PluginOptin
)
