package delivery

import (
	"testing"
	"time"
)

// Payloads are modelled on the examples in Meta's Messenger Platform reference; IDs are made up.

const (
	pageID = "1234567890"
	psid   = "6543210987654321"
	tsMs   = 1458692752478
)

var tsTime = time.UnixMilli(tsMs).UTC()

// page wraps events (JSON objects, comma-separated) in a one-entry page delivery.
func page(events string) string {
	return `{"object":"page","entry":[{"id":"` + pageID + `","time":1458692752999,"messaging":[` + events + `]}]}`
}

func TestParseKinds(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		want        []Event // Fingerprint is not compared here; see fingerprint_test.go
		wantIgnored int
	}{
		{
			name: "new conversation from m.me: postback with referral",
			body: page(`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"postback":{"mid":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM","title":"Get Started","payload":"GET_STARTED",
				"referral":{"ref":"summer_coupon","source":"SHORTLINK","type":"OPEN_THREAD"}}}`),
			want: []Event{{Kind: KindPostbackReferral, PageID: pageID, SenderID: psid, Time: tsTime,
				MID:      "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM",
				Referral: Referral{Ref: "summer_coupon", Source: "SHORTLINK", Type: "OPEN_THREAD"}}},
		},
		{
			name: "existing conversation: top-level referral",
			body: page(`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"referral":{"ref":"tutorial--738--value1--514--value2","source":"SHORTLINK","type":"OPEN_THREAD"}}`),
			want: []Event{{Kind: KindReferral, PageID: pageID, SenderID: psid, Time: tsTime,
				Referral: Referral{Ref: "tutorial--738--value1--514--value2", Source: "SHORTLINK", Type: "OPEN_THREAD"}}},
		},
		{
			name: "first message from a click-to-Messenger ad, with ads_context_data",
			body: page(`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"message":{"mid":"m_ad1","text":"Is this still available?",
				"referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD",
				"ads_context_data":{"ad_title":"Spring sale","photo_url":"https://example.com/p.jpg","video_url":null,
				"post_id":"1234567890_9876543210","product_id":"42"}}}}`),
			want: []Event{{Kind: KindMessageReferral, PageID: pageID, SenderID: psid, Time: tsTime, MID: "m_ad1",
				Referral: Referral{Ref: "spring_ad", Source: "ADS", Type: "OPEN_THREAD", AdID: "6045246247433"}}},
		},
		{
			name: "chat plugin referral: sender.user_ref, referer_uri, is_guest_user as a string",
			body: page(`{"sender":{"user_ref":"guest-19ab"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"referral":{"ref":"pricing","source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD",
				"referer_uri":"https://example.com/pricing","is_guest_user":"true"}}`),
			want: []Event{{Kind: KindReferral, PageID: pageID, UserRef: "guest-19ab", Time: tsTime,
				Referral: Referral{Ref: "pricing", Source: "CUSTOMER_CHAT_PLUGIN", Type: "OPEN_THREAD",
					RefererURI: "https://example.com/pricing", IsGuestUser: true}}},
		},
		{
			name: "is_guest_user as a boolean, and as the string false",
			body: page(`{"sender":{"user_ref":"g1"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"a","is_guest_user":true}},
				{"sender":{"user_ref":"g2"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"b","is_guest_user":"false"}}`),
			want: []Event{
				{Kind: KindReferral, PageID: pageID, UserRef: "g1", Time: tsTime, Referral: Referral{Ref: "a", IsGuestUser: true}},
				{Kind: KindReferral, PageID: pageID, UserRef: "g2", Time: tsTime, Referral: Referral{Ref: "b"}},
			},
		},
		{
			name: "Send-to-Messenger plugin opt-in with data-ref",
			body: page(`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"optin":{"ref":"landing_hero"}}`),
			want: []Event{{Kind: KindOptIn, PageID: pageID, SenderID: psid, Time: tsTime,
				OptIn: OptIn{Ref: "landing_hero"}}},
		},
		{
			name: "checkbox plugin opt-in: optin.user_ref and no sender",
			body: page(`{"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"optin":{"ref":"checkout","user_ref":"cb-7f9a3e","message_request":"accept"}}`),
			want: []Event{{Kind: KindOptIn, PageID: pageID, UserRef: "cb-7f9a3e", Time: tsTime,
				OptIn: OptIn{Ref: "checkout", UserRef: "cb-7f9a3e"}}},
		},
		{
			name: "recurring notification opt-in from m.me/rn",
			body: page(`{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"optin":{"type":"notification_messages","title":"Weekly deals","payload":"deals-v1",
				"notification_messages_token":"6717424155031498851","notification_messages_topic":"weekly deals",
				"notification_messages_frequency":"WEEKLY","notification_messages_timezone":"Europe/Paris",
				"token_expiry_timestamp":1700000000000,"user_token_status":"NOT_REFRESHED",
				"ref":"rn_weekly","source":"SHORTLINK"}}`),
			want: []Event{{Kind: KindNotificationOptIn, PageID: pageID, SenderID: psid, Time: tsTime,
				OptIn: OptIn{Type: "notification_messages", Title: "Weekly deals", Payload: "deals-v1",
					Token: "6717424155031498851", Topic: "weekly deals", Frequency: "WEEKLY",
					Timezone: "Europe/Paris", TokenExpiry: time.UnixMilli(1700000000000).UTC(),
					UserTokenStatus: "NOT_REFRESHED", Ref: "rn_weekly", Source: "SHORTLINK"}}},
		},
		{
			name: "stop and resume, written with spaces and with underscores",
			body: page(`{"sender":{"id":"1"},"timestamp":1458692752478,"optin":{"type":"notification_messages","notification_messages_token":"t","notification_messages_status":"stop notifications"}},
				{"sender":{"id":"2"},"timestamp":1458692752478,"optin":{"type":"notification_messages","notification_messages_token":"t","notification_messages_status":"STOP_NOTIFICATIONS"}},
				{"sender":{"id":"3"},"timestamp":1458692752478,"optin":{"type":"notification_messages","notification_messages_token":"t","notification_messages_status":"resume notifications"}},
				{"sender":{"id":"4"},"timestamp":1458692752478,"optin":{"type":"notification_messages","notification_messages_token":"t","notification_messages_status":"RESUME_NOTIFICATIONS"}},
				{"sender":{"id":"5"},"timestamp":1458692752478,"optin":{"type":"notification_messages","notification_messages_token":"t","notification_messages_status":"Paused-By Page"}}`),
			want: []Event{
				{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "1", Time: tsTime, OptIn: OptIn{Type: "notification_messages", Token: "t", Status: StatusStop}},
				{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "2", Time: tsTime, OptIn: OptIn{Type: "notification_messages", Token: "t", Status: StatusStop}},
				{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "3", Time: tsTime, OptIn: OptIn{Type: "notification_messages", Token: "t", Status: StatusResume}},
				{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "4", Time: tsTime, OptIn: OptIn{Type: "notification_messages", Token: "t", Status: StatusResume}},
				{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "5", Time: tsTime, OptIn: OptIn{Type: "notification_messages", Token: "t", Status: "PAUSED_BY_PAGE"}},
			},
		},
		{
			name: "standby channel: tracked events flagged, the rest ignored",
			body: `{"object":"page","entry":[{"id":"1234567890","time":1458692752478,"standby":[
				{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"r1","source":"SHORTLINK","type":"OPEN_THREAD"}},
				{"sender":{"id":"6543210987654321"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"message":{"mid":"m_2","text":"hello"}}]}]}`,
			want: []Event{{Kind: KindReferral, PageID: pageID, SenderID: psid, Time: tsTime, Standby: true,
				Referral: Referral{Ref: "r1", Source: "SHORTLINK", Type: "OPEN_THREAD"}}},
			wantIgnored: 1,
		},
		{
			name: "untracked kinds are counted, not returned",
			body: page(`{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"message":{"mid":"m1","text":"hi"}},
				{"sender":{"id":"1234567890"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m2","is_echo":true,"text":"hello",
					"referral":{"ref":"echoes-never-count"}}},
				{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"read":{"watermark":1458668856253}},
				{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"delivery":{"mids":["m2"],"watermark":1458668856253}},
				{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"reaction":{"mid":"m2","action":"react","emoji":"\u2764"}},
				{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"postback":{"mid":"m3","title":"Menu","payload":"MENU"}}`),
			wantIgnored: 6,
		},
		{
			name: "unicode escapes are decoded",
			body: page(`{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"optin":{"type":"notification_messages","title":"\u00c9t\u00e9 \ud83c\udf1e","notification_messages_topic":"caf\u00e9 \"news\""}}`),
			want: []Event{{Kind: KindNotificationOptIn, PageID: pageID, SenderID: "1", Time: tsTime,
				OptIn: OptIn{Type: "notification_messages", Title: "Été 🌞", Topic: `café "news"`}}},
		},
		{
			name: "IDs as numbers; page from entry.id when there is no recipient",
			body: `{"object":"page","entry":[{"id":1234567890,"time":1458692752478,"messaging":[
				{"sender":{"id":6543210987654321},"timestamp":1458692752478,"referral":{"ref":"n","ad_id":6045246247433}}]}]}`,
			want: []Event{{Kind: KindReferral, PageID: pageID, SenderID: psid, Time: tsTime,
				Referral: Referral{Ref: "n", AdID: "6045246247433"}}},
		},
		{
			name: "every entry is read, in order",
			body: `{"object":"page","entry":[
				{"id":"111","time":1458692752478,"messaging":[{"sender":{"id":"1"},"timestamp":1458692752478,"referral":{"ref":"a"}}]},
				{"id":"222","time":1458692752478,"messaging":[{"sender":{"id":"2"},"timestamp":1458692752478,"optin":{"ref":"b"}}],
				 "standby":[{"sender":{"id":"3"},"timestamp":1458692752478,"referral":{"ref":"c"}}]}]}`,
			want: []Event{
				{Kind: KindReferral, PageID: "111", SenderID: "1", Time: tsTime, Referral: Referral{Ref: "a"}},
				{Kind: KindOptIn, PageID: "222", SenderID: "2", Time: tsTime, OptIn: OptIn{Ref: "b"}},
				{Kind: KindReferral, PageID: "222", SenderID: "3", Time: tsTime, Standby: true, Referral: Referral{Ref: "c"}},
			},
		},
		{
			name: "unknown fields and scalars of surprising types are tolerated",
			body: page(`{"sender":{"id":{"nested":true},"extra":[1,2]},"recipient":{"id":"1234567890"},"timestamp":1458692752478,
				"brand_new_field":{"a":[{"b":null}]},"referral":{"ref":42,"source":["x"],"type":null}}`),
			want: []Event{{Kind: KindReferral, PageID: pageID, Time: tsTime, Referral: Referral{Ref: "42"}}},
		},
		{
			name: "a delivery for another object is acknowledged without events",
			body: `{"object":"instagram","entry":[{"id":"17841400000000000","time":1458692752478,
				"messaging":[{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1458692752478,"referral":{"ref":"ig"}}]}]}`,
		},
		{
			name: "a page delivery without entries is empty, not an error",
			body: `{"object":"page"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Ignored != tt.wantIgnored {
				t.Errorf("Ignored = %d, want %d", d.Ignored, tt.wantIgnored)
			}
			if len(d.Events) != len(tt.want) {
				t.Fatalf("got %d events, want %d: %+v", len(d.Events), len(tt.want), d.Events)
			}
			for i, got := range d.Events {
				if got.Fingerprint == ([16]byte{}) {
					t.Errorf("event %d has no fingerprint", i)
				}
				got.Fingerprint = [16]byte{}
				if got != tt.want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got, tt.want[i])
				}
			}
		})
	}
}

// A signed delivery is Meta's. An event of a shape the operator cannot read is skipped and counted, and
// the rest of the delivery is read as usual: refusing it would make Meta send it again and again, and in
// the end unsubscribe the app. The first case is the test delivery of Meta's app dashboard.
func TestParseSkipsEventsOfAnotherShape(t *testing.T) {
	referral := `{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"referral":{"ref":"r"}}`
	plain := `{"sender":{"id":"1"},"recipient":{"id":"1234567890"},"timestamp":1,"message":{"mid":"m1","text":"hi"}}`
	tests := []struct {
		name                     string
		body                     string
		wantEvents               int
		wantSkipped, wantIgnored int
	}{
		{"Meta's test delivery", `{"object":"page","entry":[{"messaging":[{"message":"TEST_MESSAGE"}]}]}`, 0, 1, 0},
		{"postback is a string", page(`{"postback":"GET_STARTED"}`), 0, 1, 0},
		{"optin is a number", page(`{"optin":7}`), 0, 1, 0},
		{"referral is an array", page(`{"referral":[{"ref":"a"}]}`), 0, 1, 0},
		{"event is a number", page(`7`), 0, 1, 0},
		{"the readable events around it are read", page(referral + `,{"message":"TEST_MESSAGE"},` + plain + `,` + referral), 2, 1, 1},
		{"in standby too", `{"object":"page","entry":[{"id":"1","standby":[{"message":"x"},` + referral + `]}]}`, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(d.Events) != tt.wantEvents || d.Skipped != tt.wantSkipped || d.Ignored != tt.wantIgnored {
				t.Errorf("%d events, %d skipped, %d ignored; want %d, %d, %d",
					len(d.Events), d.Skipped, d.Ignored, tt.wantEvents, tt.wantSkipped, tt.wantIgnored)
			}
			for _, ev := range d.Events {
				if ev.Kind != KindReferral || ev.Referral.Ref != "r" || ev.Fingerprint == ([16]byte{}) {
					t.Errorf("event not read as in a delivery without skipped events: %+v", ev)
				}
			}
		})
	}
}

func TestParseObject(t *testing.T) {
	for body, want := range map[string]string{
		page(""): ObjectPage,
		`{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments"}]}]}`: "instagram",
		// Only the object is read for objects we do not handle: a shape we would reject for a page
		// must not fail their acknowledgement.
		`{"object":"whatsapp_business_account","entry":{"not":"an array"}}`: "whatsapp_business_account",
	} {
		d, err := Parse([]byte(body))
		if err != nil {
			t.Fatalf("Parse(%s): %v", body, err)
		}
		if d.Object != want || len(d.Events) != 0 || d.Ignored != 0 {
			t.Errorf("Parse(%s) = %+v, want object %q and nothing else", body, d, want)
		}
	}
}

func TestParseTimestamps(t *testing.T) {
	const entryTime = 1458692752999
	tests := []struct {
		name      string
		timestamp string // JSON value of the event's "timestamp"; "" leaves it out
		entryTime string // JSON value of the entry's "time"
		want      time.Time
	}{
		{"number, milliseconds", `1458692752478`, `1458692752999`, time.UnixMilli(1458692752478).UTC()},
		{"string, milliseconds", `"1458692752478"`, `1458692752999`, time.UnixMilli(1458692752478).UTC()},
		{"number, seconds", `1458692752`, `1458692752999`, time.Unix(1458692752, 0).UTC()},
		{"string, seconds", `"1458692752"`, `1458692752999`, time.Unix(1458692752, 0).UTC()},
		{"number with exponent", `1.458692752478e12`, `1458692752999`, time.UnixMilli(1458692752478).UTC()},
		{"absent: entry time", ``, `1458692752999`, time.UnixMilli(entryTime).UTC()},
		{"unreadable: entry time", `"yesterday"`, `1458692752999`, time.UnixMilli(entryTime).UTC()},
		{"zero: entry time as a string", `0`, `"1458692752999"`, time.UnixMilli(entryTime).UTC()},
		{"negative and no entry time: zero", `-5`, `null`, time.Time{}},
		{"overflowing: entry time", `99999999999999999999`, `1458692752999`, time.UnixMilli(entryTime).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := ""
			if tt.timestamp != "" {
				ts = `"timestamp":` + tt.timestamp + `,`
			}
			body := `{"object":"page","entry":[{"id":"1","time":` + tt.entryTime + `,"messaging":[{` + ts + `"referral":{"ref":"r"}}]}]}`
			d, err := Parse([]byte(body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := d.Events[0].Time; !got.Equal(tt.want) {
				t.Errorf("Time = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNormalizeStatus(t *testing.T) {
	for in, want := range map[string]Status{
		"":                        StatusOptIn,
		"stop notifications":      StatusStop,
		"STOP_NOTIFICATIONS":      StatusStop,
		" Stop  Notifications ":   StatusStop,
		"stop-notifications":      StatusStop,
		"resume notifications":    StatusResume,
		"RESUME_NOTIFICATIONS":    StatusResume,
		"Resume_Notifications":    StatusResume,
		"something new":           "SOMETHING_NEW",
		"already_CANONICAL_value": "ALREADY_CANONICAL_VALUE",
	} {
		if got := normalizeStatus(in); got != want {
			t.Errorf("normalizeStatus(%q) = %q, want %q", in, got, want)
		}
	}
}
