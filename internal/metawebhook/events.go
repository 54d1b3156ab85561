// Package metawebhook builds Messenger webhook deliveries as Meta sends them (referrals, plugin and
// recurring-notification opt-ins), and signs and posts them as Meta does. It is Meta's side of what
// internal/delivery verifies and parses. The Graph API emulator (internal/graph/graphtest), the tests and
// the demo deliver with it, and so does kubectl mmelink simulate, which must not ship the emulator.
package metawebhook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
)

// Envelope is a Messenger webhook delivery: {"object":"page","entry":[...]}.
type Envelope struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one Page's part of a delivery.
type Entry struct {
	// ID is the Page ID.
	ID string `json:"id"`
	// Time is in milliseconds.
	Time      int64   `json:"time"`
	Messaging []Event `json:"messaging"`
}

// Event is one messaging event.
type Event struct {
	// Sender is absent for checkbox-plugin opt-ins, which carry optin.user_ref instead.
	Sender    *Party `json:"sender,omitempty"`
	Recipient Party  `json:"recipient"`
	// Timestamp is in milliseconds.
	Timestamp int64           `json:"timestamp"`
	Optin     *OptinObject    `json:"optin,omitempty"`
	Referral  *ReferralObject `json:"referral,omitempty"`
	Postback  *PostbackObject `json:"postback,omitempty"`
	Message   *MessageObject  `json:"message,omitempty"`
}

// MessageObject is the message object of a messages event; Referral is set on the first message from a
// click-to-Messenger ad.
type MessageObject struct {
	Mid      string          `json:"mid"`
	Text     string          `json:"text,omitempty"`
	Referral *ReferralObject `json:"referral,omitempty"`
}

// Party is a sender or recipient.
type Party struct {
	ID      string `json:"id,omitempty"`
	UserRef string `json:"user_ref,omitempty"`
}

// OptinObject is the optin object of a messaging_optins event (plugin or recurring notification).
type OptinObject struct {
	Type                          string `json:"type,omitempty"`
	Ref                           string `json:"ref,omitempty"`
	UserRef                       string `json:"user_ref,omitempty"`
	Title                         string `json:"title,omitempty"`
	Payload                       string `json:"payload,omitempty"`
	NotificationMessagesToken     string `json:"notification_messages_token,omitempty"`
	NotificationMessagesTopic     string `json:"notification_messages_topic,omitempty"`
	NotificationMessagesFrequency string `json:"notification_messages_frequency,omitempty"`
	NotificationMessagesTimezone  string `json:"notification_messages_timezone,omitempty"`
	TokenExpiryTimestamp          int64  `json:"token_expiry_timestamp,omitempty"`
	UserTokenStatus               string `json:"user_token_status,omitempty"`
	NotificationMessagesStatus    string `json:"notification_messages_status,omitempty"`
	Source                        string `json:"source,omitempty"`
}

// ReferralObject is a referral object (messaging_referrals, postback.referral).
type ReferralObject struct {
	Ref        string `json:"ref,omitempty"`
	Source     string `json:"source"`
	Type       string `json:"type"`
	AdID       string `json:"ad_id,omitempty"`
	RefererURI string `json:"referer_uri,omitempty"`
}

// PostbackObject is the postback object of a messaging_postbacks event.
type PostbackObject struct {
	Title    string          `json:"title,omitempty"`
	Payload  string          `json:"payload"`
	Mid      string          `json:"mid,omitempty"`
	Referral *ReferralObject `json:"referral,omitempty"`
}

// Values of notification_messages_status.
const (
	StatusStop   = "STOP_NOTIFICATIONS"
	StatusResume = "RESUME_NOTIFICATIONS"
)

// OptinEvent describes a person opting in to (or stopping, resuming) a recurring-notification topic.
type OptinEvent struct {
	PageID string
	// PSID is the person's Page-scoped ID (the event's sender).
	PSID    string
	Title   string
	Payload string
	// Topic is notification_messages_topic (opt-ins through m.me/rn links).
	Topic string
	// Frequency is the legacy DAILY, WEEKLY or MONTHLY; omitted when empty.
	Frequency string
	// Timezone defaults to "UTC".
	Timezone string
	// Token defaults to NotificationToken(PageID, PSID, Title).
	Token string
	// TokenExpiry defaults to 180 days after Time.
	TokenExpiry time.Time
	// UserTokenStatus defaults to "NOT_REFRESHED".
	UserTokenStatus string
	// Status is notification_messages_status (StatusStop, StatusResume); omitted when empty.
	Status string
	// Ref and Source come with m.me/rn opt-ins.
	Ref    string
	Source string
	// Time defaults to now.
	Time time.Time
}

// Envelope returns the delivery Meta would send for the event.
func (ev OptinEvent) Envelope() Envelope {
	t := orNow(ev.Time)
	o := &OptinObject{
		Type:                          "notification_messages",
		Title:                         ev.Title,
		Payload:                       ev.Payload,
		NotificationMessagesToken:     ev.Token,
		NotificationMessagesTopic:     ev.Topic,
		NotificationMessagesFrequency: ev.Frequency,
		NotificationMessagesTimezone:  ev.Timezone,
		UserTokenStatus:               ev.UserTokenStatus,
		NotificationMessagesStatus:    ev.Status,
		Ref:                           ev.Ref,
		Source:                        ev.Source,
	}
	if o.NotificationMessagesToken == "" {
		o.NotificationMessagesToken = NotificationToken(ev.PageID, ev.PSID, ev.Title)
	}
	if o.NotificationMessagesTimezone == "" {
		o.NotificationMessagesTimezone = "UTC"
	}
	if o.UserTokenStatus == "" {
		o.UserTokenStatus = "NOT_REFRESHED"
	}
	expiry := ev.TokenExpiry
	if expiry.IsZero() {
		expiry = t.Add(180 * 24 * time.Hour)
	}
	o.TokenExpiryTimestamp = expiry.UnixMilli()
	return single(ev.PageID, t, Event{Sender: &Party{ID: ev.PSID}, Optin: o})
}

// ReferralEvent describes a person arriving through an m.me link (or an ad, a plugin).
type ReferralEvent struct {
	PageID string
	PSID   string
	Ref    string
	// Source defaults to "SHORTLINK"; Type to "OPEN_THREAD".
	Source     string
	Type       string
	AdID       string
	RefererURI string
	// PostbackTitle and PostbackPayload are used by PostbackReferral; defaults "Get Started" and
	// "GET_STARTED".
	PostbackTitle   string
	PostbackPayload string
	// Time defaults to now.
	Time time.Time
}

func (ev ReferralEvent) referral() *ReferralObject {
	r := &ReferralObject{Ref: ev.Ref, Source: ev.Source, Type: ev.Type, AdID: ev.AdID, RefererURI: ev.RefererURI}
	if r.Source == "" {
		r.Source = "SHORTLINK"
	}
	if r.Type == "" {
		r.Type = "OPEN_THREAD"
	}
	return r
}

// Envelope returns a messaging_referrals delivery (a person already in conversation with the Page).
func (ev ReferralEvent) Envelope() Envelope {
	return single(ev.PageID, orNow(ev.Time), Event{Sender: &Party{ID: ev.PSID}, Referral: ev.referral()})
}

// PostbackEnvelope returns a messaging_postbacks delivery with postback.referral (a new conversation:
// the person tapped Get Started).
func (ev ReferralEvent) PostbackEnvelope() Envelope {
	t := orNow(ev.Time)
	pb := &PostbackObject{Title: ev.PostbackTitle, Payload: ev.PostbackPayload, Referral: ev.referral(),
		Mid: MessageID("postback/" + ev.PageID + "/" + ev.PSID + "/" + strconv.FormatInt(t.UnixNano(), 10))}
	if pb.Title == "" {
		pb.Title = "Get Started"
	}
	if pb.Payload == "" {
		pb.Payload = "GET_STARTED"
	}
	return single(ev.PageID, t, Event{Sender: &Party{ID: ev.PSID}, Postback: pb})
}

// AdEnvelope returns a messages delivery whose message.referral carries the ref (source ADS unless set,
// ad_id a sample ID unless set): the first message of a person who tapped a click-to-Messenger ad. Text
// defaults to a question such a person asks.
func (ev ReferralEvent) AdEnvelope(text string) Envelope {
	t := orNow(ev.Time)
	r := ev.referral()
	if ev.Source == "" {
		r.Source = "ADS"
	}
	if r.AdID == "" {
		r.AdID = "23851234567890123"
	}
	if text == "" {
		text = "Hi! Do you have these in size 42?"
	}
	m := &MessageObject{Text: text, Referral: r,
		Mid: MessageID("ad/" + ev.PageID + "/" + ev.PSID + "/" + strconv.FormatInt(t.UnixNano(), 10))}
	return single(ev.PageID, t, Event{Sender: &Party{ID: ev.PSID}, Message: m})
}

// PluginOptinEvent describes a Send-to-Messenger plugin opt-in (PSID set) or a checkbox-plugin opt-in
// (UserRef set, no sender).
type PluginOptinEvent struct {
	PageID  string
	PSID    string
	Ref     string
	UserRef string
	// Time defaults to now.
	Time time.Time
}

// Envelope returns the messaging_optins delivery for the plugin opt-in.
func (ev PluginOptinEvent) Envelope() Envelope {
	e := Event{Optin: &OptinObject{Ref: ev.Ref, UserRef: ev.UserRef}}
	if ev.PSID != "" {
		e.Sender = &Party{ID: ev.PSID}
	}
	return single(ev.PageID, orNow(ev.Time), e)
}

func single(page string, t time.Time, e Event) Envelope {
	e.Recipient = Party{ID: page}
	e.Timestamp = t.UnixMilli()
	return Envelope{Object: "page", Entry: []Entry{{ID: page, Time: t.UnixMilli(), Messaging: []Event{e}}}}
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// NotificationToken is the token an opt-in of a person to a Page's topic carries unless one is given (and
// the one the emulator gives): deterministic, numeric and 19 digits long like Meta's. The seed's prefix
// predates this package; it stays so that the tokens stay the same.
func NotificationToken(pageID, psid, title string) string {
	sum := sha256.Sum256([]byte("graphtest/token/" + pageID + "\x00" + psid + "\x00" + title))
	v := binary.BigEndian.Uint64(sum[:8])%9_000_000_000_000_000_000 + 1_000_000_000_000_000_000
	return strconv.FormatUint(v, 10)
}

// MessageID is deterministic in seed but looks like Meta's opaque "m_..." IDs. The prefix of what it
// hashes predates this package; it stays so that the IDs stay the same.
func MessageID(seed string) string {
	sum := sha256.Sum256([]byte("graphtest/mid/" + seed))
	return "m_" + base64.RawURLEncoding.EncodeToString(sum[:18])
}
