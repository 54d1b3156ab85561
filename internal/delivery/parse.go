package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults for Limits. Meta batches up to 1,000 updates per POST and nests about eight levels deep.
const (
	DefaultMaxEvents = 10_000
	DefaultMaxDepth  = 64
)

// Limits bound what Parse accepts from one body. Zero fields take the defaults.
type Limits struct {
	// MaxEvents bounds the events of a delivery, all entries, messaging and standby together.
	MaxEvents int
	// MaxDepth bounds JSON nesting (objects and arrays).
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Parse errors. Every one satisfies errors.Is(err, ErrMalformed).
var (
	ErrMalformed     = errors.New("delivery: malformed body")
	ErrTooManyEvents = fmt.Errorf("%w: too many events", ErrMalformed)
	ErrTooDeep       = fmt.Errorf("%w: nested too deeply", ErrMalformed)
)

// Parse parses a delivery body with the default limits. See ParseWithLimits.
func Parse(body []byte) (*Delivery, error) {
	return ParseWithLimits(body, Limits{})
}

// ParseWithLimits parses a delivery body into normalized events. It returns an error wrapping
// ErrMalformed for invalid JSON, an envelope or entry of the wrong shape, or a body over the limits. An
// event of the wrong shape (an object where a string belongs, or the reverse) is skipped and counted in
// Delivery.Skipped. A delivery for an object other than "page" is returned without events, whatever its
// entries hold.
func ParseWithLimits(body []byte, lim Limits) (*Delivery, error) {
	lim = lim.withDefaults()
	// Before encoding/json: its recursion makes a depth bomb slow, and decoding a million tiny events
	// allocates a million structs.
	if err := prescan(body, lim); err != nil {
		return nil, err
	}
	var env wireEnvelope
	err := json.Unmarshal(body, &env)
	if env.Object != "" && env.Object != ObjectPage {
		// Syntax errors leave Object empty, so this is valid JSON for an object we only acknowledge.
		return &Delivery{Object: env.Object}, nil
	}
	skipped := 0
	if typeErr := (*json.UnmarshalTypeError)(nil); errors.As(err, &typeErr) {
		// Valid JSON with a value of another shape somewhere. If only events are of a shape the
		// operator does not know (Meta's own test delivery sends "message":"TEST_MESSAGE"), the
		// delivery is Meta's all the same: read it event by event and skip those.
		env, skipped, err = parseEventByEvent(body)
	}
	if err != nil {
		return nil, malformed(err)
	}
	if env.Object == "" {
		return nil, fmt.Errorf("%w: no object", ErrMalformed)
	}

	n, tracked := skipped, 0
	for i := range env.Entry {
		for _, list := range [2][]wireEvent{env.Entry[i].Messaging, env.Entry[i].Standby} {
			n += len(list)
			for j := range list {
				if k, _ := classify(&list[j]); k != "" {
					tracked++
				}
			}
		}
	}
	// prescan counts an upper bound of this; checking the real count keeps the limit exact if the
	// two ever disagree.
	if n > lim.MaxEvents {
		return nil, fmt.Errorf("%w (more than %d)", ErrTooManyEvents, lim.MaxEvents)
	}

	d := &Delivery{Object: env.Object, Events: make([]Event, 0, tracked), Ignored: n - skipped - tracked, Skipped: skipped}
	for i := range env.Entry {
		e := &env.Entry[i]
		for j := range e.Messaging {
			d.add(e, &e.Messaging[j], false)
		}
		for j := range e.Standby {
			d.add(e, &e.Standby[j], true)
		}
	}
	return d, nil
}

// parseEventByEvent decodes an envelope whose events are decoded one at a time, and returns it without
// the events that do not decode, and how many those were. The envelope and its entries must still have
// Meta's shape: an error here means the body is not a delivery.
func parseEventByEvent(body []byte) (wireEnvelope, int, error) {
	var raw struct {
		Object string `json:"object"`
		Entry  []struct {
			ID        text              `json:"id"`
			Time      millis            `json:"time"`
			Messaging []json.RawMessage `json:"messaging"`
			Standby   []json.RawMessage `json:"standby"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return wireEnvelope{}, 0, err
	}
	env := wireEnvelope{Object: raw.Object, Entry: make([]wireEntry, len(raw.Entry))}
	skipped := 0
	decode := func(events []json.RawMessage) []wireEvent {
		out := make([]wireEvent, 0, len(events))
		for _, e := range events {
			var w wireEvent
			if json.Unmarshal(e, &w) != nil {
				skipped++
				continue
			}
			out = append(out, w)
		}
		return out
	}
	for i, e := range raw.Entry {
		env.Entry[i] = wireEntry{ID: e.ID, Time: e.Time, Messaging: decode(e.Messaging), Standby: decode(e.Standby)}
	}
	return env, skipped, nil
}

// malformed turns a decoding error into one wrapping ErrMalformed that names the JSON path rather
// than Go types.
func malformed(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		path := typeErr.Field
		if path == "" {
			path = "body"
		}
		return fmt.Errorf("%w: %s is a JSON %s", ErrMalformed, path, typeErr.Value)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// classify names the kind of a wire event and its referral object; "" for kinds not tracked. A postback
// or message without a referral is a conversation, not an entry point.
func classify(w *wireEvent) (Kind, *wireReferral) {
	switch {
	case w.Postback.Referral != nil:
		return KindPostbackReferral, w.Postback.Referral
	case w.Referral != nil:
		return KindReferral, w.Referral
	case w.Message.Referral != nil && !bool(w.Message.IsEcho):
		return KindMessageReferral, w.Message.Referral
	case w.OptIn != nil && w.OptIn.Type == optInNotificationMessages:
		return KindNotificationOptIn, nil
	case w.OptIn != nil && isPluginOptIn(w.OptIn):
		return KindOptIn, nil
	}
	return "", nil
}

// optInNotificationMessages is optin.type of recurring-notification (marketing message) opt-ins.
const optInNotificationMessages = "notification_messages"

// isPluginOptIn tells a Send-to-Messenger or checkbox plugin opt-in from the other messaging_optins
// events: those carry an optin.type of their own (one-time notifications: "one_time_notif_req"), or are
// a person accepting a customer-matching message request ("message_request":"accept"), which comes
// from no plugin and so carries neither a data-ref nor a checkbox user_ref.
func isPluginOptIn(o *wireOptIn) bool {
	if o.Type != "" {
		return false
	}
	return o.MessageRequest == "" || o.Ref != "" || o.UserRef != ""
}

func (d *Delivery) add(entry *wireEntry, w *wireEvent, standby bool) {
	kind, ref := classify(w)
	if kind == "" {
		return
	}
	ev := Event{
		Kind:     kind,
		PageID:   string(w.Recipient.ID),
		SenderID: string(w.Sender.ID),
		UserRef:  string(w.Sender.UserRef),
		Time:     toTime(w.Timestamp),
		Standby:  standby,
	}
	if ev.PageID == "" {
		ev.PageID = string(entry.ID)
	}
	if ev.Time.IsZero() {
		ev.Time = toTime(entry.Time)
	}
	switch kind {
	case KindPostbackReferral:
		ev.MID = string(w.Postback.MID)
	case KindMessageReferral:
		ev.MID = string(w.Message.MID)
	}
	if ref != nil {
		ev.Referral = Referral{
			Ref:         string(ref.Ref),
			Source:      string(ref.Source),
			Type:        string(ref.Type),
			AdID:        string(ref.AdID),
			RefererURI:  string(ref.RefererURI),
			IsGuestUser: bool(ref.IsGuestUser),
		}
	}
	if o := w.OptIn; o != nil && (kind == KindOptIn || kind == KindNotificationOptIn) {
		ev.OptIn = OptIn{
			Ref:             string(o.Ref),
			UserRef:         string(o.UserRef),
			Type:            string(o.Type),
			Title:           string(o.Title),
			Payload:         string(o.Payload),
			Token:           string(o.Token),
			Topic:           string(o.Topic),
			Frequency:       string(o.Frequency),
			Timezone:        string(o.Timezone),
			TokenExpiry:     toTime(o.TokenExpiry),
			UserTokenStatus: string(o.UserTokenStatus),
			Status:          normalizeStatus(string(o.Status)),
			Source:          string(o.Source),
		}
		if ev.UserRef == "" {
			ev.UserRef = ev.OptIn.UserRef
		}
	}
	// The event's own timestamp only: entry.time is the batch's, and a redelivery may batch differently.
	ev.Fingerprint = fingerprint(&ev, unixMillis(w.Timestamp))
	d.Events = append(d.Events, ev)
}

// unixMillis reads a timestamp as milliseconds: values below 1e12 (before 2001 in ms, after 33658 in
// seconds) are seconds. 0 means absent.
func unixMillis(m millis) int64 {
	switch {
	case m <= 0:
		return 0
	case m < 1e12:
		return int64(m) * 1000
	}
	return int64(m)
}

func toTime(m millis) time.Time {
	ms := unixMillis(m)
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// normalizeStatus maps "stop notifications", "STOP_NOTIFICATIONS", "Stop-Notifications" and the like to
// one constant; unknown values are kept in the same canonical form.
func normalizeStatus(s string) Status {
	if s == "" {
		return StatusOptIn
	}
	s = strings.ToUpper(strings.Join(strings.FieldsFunc(s, isStatusSeparator), "_"))
	switch s {
	case "STOP_NOTIFICATIONS", "STOP":
		return StatusStop
	case "RESUME_NOTIFICATIONS", "RESUME":
		return StatusResume
	}
	return Status(s)
}

func isStatusSeparator(r rune) bool {
	return r == ' ' || r == '_' || r == '-' || r == '\t'
}
