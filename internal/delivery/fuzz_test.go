package delivery

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func FuzzVerifySignature(f *testing.F) {
	body := []byte(page(postbackEvent))
	f.Add([]byte("secret"), body, Sign([]byte("secret"), body))
	f.Add([]byte("secret"), body, strings.ToUpper(Sign([]byte("secret"), body)))
	f.Add([]byte("secret"), body, "sha1=0123456789abcdef0123456789abcdef01234567")
	f.Add([]byte(""), []byte(""), "sha256=")
	f.Add([]byte("k"), []byte("{}"), "sha256=zz")
	f.Fuzz(func(t *testing.T, secret, body []byte, header string) {
		err := VerifySignature(secret, body, header)
		if len(secret) == 0 {
			if !errors.Is(err, ErrNoAppSecret) {
				t.Fatalf("empty secret: %v", err)
			}
			return
		}
		// Exactly the header Sign produces verifies, up to case and surrounding space.
		matches := strings.EqualFold(strings.TrimSpace(header), Sign(secret, body))
		if (err == nil) != matches {
			t.Fatalf("VerifySignature(%q) = %v, but matches Sign: %v", header, err, matches)
		}
		if err := VerifySignature(secret, body, Sign(secret, body)); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(page(postbackEvent + "," + optInEvent)))
	f.Add([]byte(page(events(3))))
	f.Add([]byte(`{"object":"page","entry":[{"id":1,"time":"1458692752","standby":[{"sender":{"user_ref":"u"},"optin":{"user_ref":"v","notification_messages_status":"stop notifications","token_expiry_timestamp":"17e11"}}]}]}`))
	f.Add([]byte(page(`{"message":{"mid":"m","is_echo":"false","referral":{"ref":"\u00e9\ud83c\udf1e","is_guest_user":1}}}`)))
	f.Add([]byte(`{"object":"instagram","entry":{}}`))
	f.Add([]byte(`{"object":"page","entry":[[[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d1, err := ParseWithLimits(body, Limits{MaxEvents: 100, MaxDepth: 16})
		if err != nil {
			if !errors.Is(err, ErrMalformed) || d1 != nil {
				t.Fatalf("error %v (delivery %v) does not wrap ErrMalformed", err, d1)
			}
			return
		}
		if len(d1.Events)+d1.Ignored > 100 {
			t.Fatalf("%d events and %d ignored exceed the limit", len(d1.Events), d1.Ignored)
		}
		if d1.Object != ObjectPage {
			if len(d1.Events) != 0 || d1.Ignored != 0 {
				t.Fatalf("object %q has events", d1.Object)
			}
			return
		}
		// Re-encoding the events as Meta would send them gives back the same events. Fingerprints are
		// compared from the second round on: an event without a timestamp takes the entry's time,
		// which the re-encoding then writes as the event's own.
		d2 := reparse(t, d1)
		d3 := reparse(t, d2)
		for i := range d1.Events {
			a, b := d1.Events[i], d2.Events[i]
			a.Fingerprint, b.Fingerprint = [16]byte{}, [16]byte{}
			if a != b {
				t.Fatalf("event %d changed on re-encoding:\n got %+v\nwant %+v", i, b, a)
			}
			if d2.Events[i] != d3.Events[i] {
				t.Fatalf("event %d not stable on the second re-encoding", i)
			}
		}
	})
}

func reparse(t *testing.T, d *Delivery) *Delivery {
	t.Helper()
	body, err := json.Marshal(encode(d))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Parse(body)
	if err != nil {
		t.Fatalf("re-encoded delivery rejected: %v\n%s", err, body)
	}
	if len(out.Events) != len(d.Events) {
		t.Fatalf("re-encoded delivery has %d events, want %d\n%s", len(out.Events), len(d.Events), body)
	}
	return out
}

// encode writes a Delivery back in Meta's wire format, one entry per event.
func encode(d *Delivery) map[string]any {
	entries := make([]any, 0, len(d.Events))
	for _, e := range d.Events {
		ev := map[string]any{
			"sender":    map[string]any{"id": e.SenderID, "user_ref": e.UserRef},
			"recipient": map[string]any{"id": e.PageID},
		}
		if ts, ok := wireTime(e.Time); ok {
			ev["timestamp"] = ts
		}
		ref := map[string]any{
			"ref": e.Referral.Ref, "source": e.Referral.Source, "type": e.Referral.Type, "ad_id": e.Referral.AdID,
			"referer_uri": e.Referral.RefererURI, "is_guest_user": e.Referral.IsGuestUser,
		}
		switch e.Kind {
		case KindPostbackReferral:
			ev["postback"] = map[string]any{"mid": e.MID, "referral": ref}
		case KindReferral:
			ev["referral"] = ref
		case KindMessageReferral:
			ev["message"] = map[string]any{"mid": e.MID, "referral": ref}
		case KindOptIn, KindNotificationOptIn:
			o := e.OptIn
			optin := map[string]any{
				"ref": o.Ref, "user_ref": o.UserRef, "type": o.Type, "title": o.Title, "payload": o.Payload,
				"notification_messages_token": o.Token, "notification_messages_topic": o.Topic,
				"notification_messages_frequency": o.Frequency, "notification_messages_timezone": o.Timezone,
				"user_token_status": o.UserTokenStatus, "notification_messages_status": string(o.Status), "source": o.Source,
			}
			if ts, ok := wireTime(o.TokenExpiry); ok {
				optin["token_expiry_timestamp"] = ts
			}
			ev["optin"] = optin
		}
		channel := "messaging"
		if e.Standby {
			channel = "standby"
		}
		entries = append(entries, map[string]any{"id": e.PageID, channel: []any{ev}})
	}
	return map[string]any{"object": d.Object, "entry": entries}
}

// wireTime writes t as Parse will read it back: milliseconds, or seconds where milliseconds would
// fall below 1e12 and read as seconds.
func wireTime(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	if ms := t.UnixMilli(); ms >= 1e12 {
		return ms, true
	}
	return t.Unix(), true
}
