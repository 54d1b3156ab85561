package delivery

import (
	"encoding/hex"
	"strings"
	"testing"
)

// parseEvents parses body and returns its events, failing the test on error.
func parseEvents(t *testing.T, body string) []Event {
	t.Helper()
	d, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse(%s): %v", body, err)
	}
	return d.Events
}

const (
	postbackEvent = `{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
		"postback":{"mid":"m_1","title":"Get Started","payload":"GET_STARTED","referral":{"ref":"summer","source":"SHORTLINK","type":"OPEN_THREAD"}}}`
	optInEvent = `{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692760000,
		"optin":{"type":"notification_messages","notification_messages_token":"tok-1","notification_messages_topic":"deals"}}`
)

// A redelivery may batch the same events differently: other entries, order, entry time, channel, and
// timestamps as strings or in seconds. None of that is the event's identity.
func TestFingerprintSurvivesRebatching(t *testing.T) {
	first := parseEvents(t, page(postbackEvent+","+optInEvent))
	again := parseEvents(t, `{"object":"page","entry":[
		{"id":"1234567890","time":1458692799999,"standby":[`+strings.Replace(optInEvent, `1458692760000`, `"1458692760"`, 1)+`]},
		{"id":"1234567890","time":1458692800000,"messaging":[{"unrelated":true},`+
		strings.Replace(postbackEvent, `1458692752478`, `"1458692752478"`, 1)+`]}]}`)
	if len(first) != 2 || len(again) != 2 {
		t.Fatalf("got %d and %d events, want 2 and 2", len(first), len(again))
	}
	if first[0].Fingerprint != again[1].Fingerprint {
		t.Error("postback referral: fingerprint changed with the batch")
	}
	if first[1].Fingerprint != again[0].Fingerprint {
		t.Error("notification opt-in: fingerprint changed with the batch")
	}
}

func TestFingerprintIgnoresDisplayFields(t *testing.T) {
	a := parseEvents(t, page(postbackEvent))[0]
	b := parseEvents(t, page(strings.NewReplacer(`"Get Started"`, `"Démarrer"`, `"GET_STARTED"`, `"START"`).Replace(postbackEvent)))[0]
	if a.Fingerprint != b.Fingerprint {
		t.Error("title and payload changed the fingerprint")
	}
}

// Every field of an event's identity changes its fingerprint: no two of these may collide.
func TestFingerprintDistinguishesEvents(t *testing.T) {
	variants := map[string]string{
		"base":           postbackEvent,
		"page":           strings.Replace(postbackEvent, `"1234567890"`, `"1234567891"`, 1),
		"sender":         strings.Replace(postbackEvent, `"6543210987654321"`, `"6543210987654322"`, 1),
		"user_ref":       strings.Replace(postbackEvent, `"id":"6543210987654321"`, `"id":"6543210987654321","user_ref":"u"`, 1),
		"timestamp +1ms": strings.Replace(postbackEvent, `1458692752478`, `1458692752479`, 1),
		"mid":            strings.Replace(postbackEvent, `"m_1"`, `"m_2"`, 1),
		"ref":            strings.Replace(postbackEvent, `"summer"`, `"winter"`, 1),
		"source":         strings.Replace(postbackEvent, `"SHORTLINK"`, `"MESSENGER_CODE"`, 1),
		"type":           strings.Replace(postbackEvent, `"OPEN_THREAD"`, `"LEAD_COMPLETE"`, 1),
		"ad id":          strings.Replace(postbackEvent, `"type"`, `"ad_id":"1","type"`, 1),
		// Same fields, another kind.
		"kind": strings.Replace(postbackEvent, `"postback":{"mid":"m_1","title":"Get Started","payload":"GET_STARTED",`, `"message":{"mid":"m_1",`, 1),
		// A field's bytes moved to its neighbour must not collide (length prefixes).
		"shifted": strings.NewReplacer(`"summer"`, `"summerSHORT"`, `"SHORTLINK"`, `"LINK"`).Replace(postbackEvent),

		"optin":          optInEvent,
		"optin token":    strings.Replace(optInEvent, `"tok-1"`, `"tok-2"`, 1),
		"optin topic":    strings.Replace(optInEvent, `"deals"`, `"news"`, 1),
		"optin stopped":  strings.Replace(optInEvent, `"deals"`, `"deals","notification_messages_status":"STOP_NOTIFICATIONS"`, 1),
		"optin resumed":  strings.Replace(optInEvent, `"deals"`, `"deals","notification_messages_status":"RESUME_NOTIFICATIONS"`, 1),
		"optin ref":      strings.Replace(optInEvent, `"deals"`, `"deals","ref":"x"`, 1),
		"plugin optin":   strings.Replace(optInEvent, `"type":"notification_messages",`, ``, 1),
		"optin no stamp": strings.Replace(optInEvent, `"timestamp":1458692760000,`, ``, 1),
	}
	seen := make(map[[16]byte]string)
	for name, ev := range variants {
		fp := parseEvents(t, page(ev))[0].Fingerprint
		if other, ok := seen[fp]; ok {
			t.Errorf("%q and %q share a fingerprint", name, other)
		}
		seen[fp] = name
	}
}

// Fingerprints are stored for dedupe across replicas and restarts: changing what they cover must be a
// deliberate, versioned decision (fingerprintVersion), never a side effect.
func TestFingerprintIsPinned(t *testing.T) {
	got := parseEvents(t, page(postbackEvent))[0].Fingerprint
	const want = "a75119471fb440264b4fd0a8c7236051" // independently computed from the documented record
	if hex.EncodeToString(got[:]) != want {
		t.Errorf("fingerprint = %x, want %s", got, want)
	}
}
