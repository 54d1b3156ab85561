package delivery

import (
	"testing"
	"time"
)

// The events below copy the structure of the examples in Meta's webhook reference (messaging_postbacks,
// messaging_referrals, messages, messaging_optins), field for field, with Meta's placeholders filled in.
// Where Meta's pages show two forms (a timestamp as a number or a string, in ms or in seconds; a chat
// plugin sender with id or user_ref), each form is a case of its own. The reference's own typos that
// make it invalid JSON (trailing commas, unquoted placeholders) are left out: Meta's deliveries are JSON.

func TestParseMetaReferenceExamples(t *testing.T) {
	const (
		page   = "104729384756123"
		person = "6021234567890123"
	)
	ms := time.UnixMilli(1458692752478).UTC()
	sec := time.Unix(1527459824, 0).UTC()
	in := func(events string) string {
		return `{"object":"page","entry":[{"id":"` + page + `","time":1458692753000,"messaging":[` + events + `]}]}`
	}
	tests := []struct {
		name        string
		body        string
		want        []Event
		wantIgnored int
	}{
		// messaging_postbacks: a new conversation, the ref arriving with Get Started.
		{
			name: "postback referral from an m.me link (timestamp a string, in seconds)",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":"1527459824",
				"postback":{"mid":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM","title":"Get Started","payload":"GET_STARTED",
				"referral":{"ref":"summer_poster","source":"SHORTLINK","type":"OPEN_THREAD"}}}`),
			want: []Event{{Kind: KindPostbackReferral, PageID: page, SenderID: person, Time: sec, MID: "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM",
				Referral: Referral{Ref: "summer_poster", Source: "SHORTLINK", Type: "OPEN_THREAD"}}},
		},
		{
			name: "postback referral as the reference page prints it: sender.user_ref, source SHORT-URL",
			body: in(`{"sender":{"user_ref":"USER-REF-ID"},"recipient":{"id":"` + page + `"},"timestamp":"1527459824",
				"postback":{"mid":"m_MESSAGE-ID","title":"TITLE-FOR-THE-CTA","payload":"USER-DEFINED-PAYLOAD",
				"referral":{"ref":"USER-DEFINED-REFERRAL-PARAM","source":"SHORT-URL","type":"OPEN_THREAD"}}}`),
			want: []Event{{Kind: KindPostbackReferral, PageID: page, UserRef: "USER-REF-ID", Time: sec, MID: "m_MESSAGE-ID",
				Referral: Referral{Ref: "USER-DEFINED-REFERRAL-PARAM", Source: "SHORT-URL", Type: "OPEN_THREAD"}}},
		},
		{
			name: "first postback after a click-to-Messenger ad",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"postback":{"mid":"m_1457764197618:41d102a3e1ae206a38","title":"Get Started","payload":"GET_STARTED",
				"referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD",
				"ads_context_data":{"ad_title":"Spring sale","photo_url":"https:\/\/scontent.xx.fbcdn.net\/p.jpg","post_id":"104729384756123_99"}}}}`),
			want: []Event{{Kind: KindPostbackReferral, PageID: page, SenderID: person, Time: ms, MID: "m_1457764197618:41d102a3e1ae206a38",
				Referral: Referral{Ref: "spring_ad", Source: "ADS", Type: "OPEN_THREAD", AdID: "6045246247433"}}},
		},
		{
			name: "postback referral from the Discover tab: no ref",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"postback":{"title":"Get Started","payload":"GET_STARTED","referral":{"source":"DISCOVER_TAB","type":"OPEN_THREAD"}}}`),
			want: []Event{{Kind: KindPostbackReferral, PageID: page, SenderID: person, Time: ms,
				Referral: Referral{Source: "DISCOVER_TAB", Type: "OPEN_THREAD"}}},
		},

		// messaging_referrals: a person with a conversation already comes back.
		{
			name: "referral from an m.me link",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"referral":{"ref":"summer_poster--738--store12","source":"SHORTLINK","type":"OPEN_THREAD"}}`),
			want: []Event{{Kind: KindReferral, PageID: page, SenderID: person, Time: ms,
				Referral: Referral{Ref: "summer_poster--738--store12", Source: "SHORTLINK", Type: "OPEN_THREAD"}}},
		},
		{
			name: "referral from an ad, with ads_context_data and flow_id",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD",
				"ads_context_data":{"ad_title":"Spring sale","photo_url":"https:\/\/scontent.xx.fbcdn.net\/p.jpg",
				"video_url":"https:\/\/scontent.xx.fbcdn.net\/v.jpg","post_id":"104729384756123_99","product_id":"42","flow_id":"7001"}}}`),
			want: []Event{{Kind: KindReferral, PageID: page, SenderID: person, Time: ms,
				Referral: Referral{Ref: "spring_ad", Source: "ADS", Type: "OPEN_THREAD", AdID: "6045246247433"}}},
		},
		{
			name: "referral from a parametric Messenger Code",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"referral":{"ref":"booth_7","source":"MESSENGER_CODE","type":"OPEN_THREAD"}}`),
			want: []Event{{Kind: KindReferral, PageID: page, SenderID: person, Time: ms,
				Referral: Referral{Ref: "booth_7", Source: "MESSENGER_CODE", Type: "OPEN_THREAD"}}},
		},
		{
			name: "chat plugin referral since v7.0: sender.user_ref, referer_uri with escaped slashes",
			body: in(`{"sender":{"user_ref":"5a9b2e4c-user-ref"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"referral":{"ref":"pricing","source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD","referer_uri":"https:\/\/shop.acme.example\/pricing"}}`),
			want: []Event{{Kind: KindReferral, PageID: page, UserRef: "5a9b2e4c-user-ref", Time: ms,
				Referral: Referral{Ref: "pricing", Source: "CUSTOMER_CHAT_PLUGIN", Type: "OPEN_THREAD", RefererURI: "https://shop.acme.example/pricing"}}},
		},
		{
			name: "chat plugin referral before v7.0: sender.id; guest users as a boolean and as a string",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"referral":{"ref":"pricing","source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD","referer_uri":"https://shop.acme.example/","is_guest_user":true}},
				{"sender":{"user_ref":"guest-1"},"recipient":{"id":"` + page + `"},"timestamp":1458692752479,
				"referral":{"ref":"pricing","source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD","referer_uri":"https://shop.acme.example/","is_guest_user":"true"}}`),
			want: []Event{
				{Kind: KindReferral, PageID: page, SenderID: person, Time: ms,
					Referral: Referral{Ref: "pricing", Source: "CUSTOMER_CHAT_PLUGIN", Type: "OPEN_THREAD", RefererURI: "https://shop.acme.example/", IsGuestUser: true}},
				{Kind: KindReferral, PageID: page, UserRef: "guest-1", Time: ms.Add(time.Millisecond),
					Referral: Referral{Ref: "pricing", Source: "CUSTOMER_CHAT_PLUGIN", Type: "OPEN_THREAD", RefererURI: "https://shop.acme.example/", IsGuestUser: true}},
			},
		},

		// messages: the first message of a person who clicked a click-to-Messenger ad.
		{
			name: "message with a referral from an ad",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"message":{"mid":"mid.1457764197618:41d102a3e1ae206a38","text":"Is this still available?",
				"referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD",
				"ads_context_data":{"ad_title":"Spring sale","photo_url":"https:\/\/scontent.xx.fbcdn.net\/p.jpg","video_url":"","post_id":"104729384756123_99","product_id":"42"}}}}`),
			want: []Event{{Kind: KindMessageReferral, PageID: page, SenderID: person, Time: ms, MID: "mid.1457764197618:41d102a3e1ae206a38",
				Referral: Referral{Ref: "spring_ad", Source: "ADS", Type: "OPEN_THREAD", AdID: "6045246247433"}}},
		},

		// messaging_optins.
		{
			name: "Send-to-Messenger plugin opt-in (timestamp in seconds, as in the reference)",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1234567890,"optin":{"ref":"website_footer"}}`),
			want: []Event{{Kind: KindOptIn, PageID: page, SenderID: person, Time: time.Unix(1234567890, 0).UTC(),
				OptIn: OptIn{Ref: "website_footer"}}},
		},
		{
			name: "checkbox plugin opt-in: optin.user_ref and no sender",
			body: in(`{"recipient":{"id":"` + page + `"},"timestamp":1234567890,"optin":{"ref":"checkout","user_ref":"cb-1700000000-42"}}`),
			want: []Event{{Kind: KindOptIn, PageID: page, UserRef: "cb-1700000000-42", Time: time.Unix(1234567890, 0).UTC(),
				OptIn: OptIn{Ref: "checkout", UserRef: "cb-1700000000-42"}}},
		},
		{
			name: "recurring-notification opt-in, every property a string as in the reference",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":"1458692752478",
				"optin":{"type":"notification_messages","payload":"deals-v1","notification_messages_token":"6717424155031498851",
				"notification_messages_frequency":"WEEKLY","notification_messages_timezone":"Europe/Paris",
				"token_expiry_timestamp":"1700000000000","user_token_status":"NOT_REFRESHED","title":"Weekly deals"}}`),
			want: []Event{{Kind: KindNotificationOptIn, PageID: page, SenderID: person, Time: ms,
				OptIn: OptIn{Type: "notification_messages", Payload: "deals-v1", Token: "6717424155031498851", Frequency: "WEEKLY",
					Timezone: "Europe/Paris", TokenExpiry: time.UnixMilli(1700000000000).UTC(), UserTokenStatus: "NOT_REFRESHED",
					Title: "Weekly deals"}}},
		},
		{
			name: "stop and resume, written as the reference's enum (with spaces) and with underscores",
			body: in(`{"sender":{"id":"1"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,"optin":{"type":"notification_messages","payload":"p",
				"notification_messages_token":"tok","notification_messages_status":"STOP NOTIFICATIONS","title":"Weekly deals"}},
				{"sender":{"id":"1"},"recipient":{"id":"` + page + `"},"timestamp":1458692752479,"optin":{"type":"notification_messages","payload":"p",
				"notification_messages_token":"tok","notification_messages_status":"RESUME NOTIFICATIONS","title":"Weekly deals"}},
				{"sender":{"id":"1"},"recipient":{"id":"` + page + `"},"timestamp":1458692752480,"optin":{"type":"notification_messages",
				"notification_messages_token":"tok","notification_messages_status":"STOP_NOTIFICATIONS","title":"Weekly deals"}}`),
			want: []Event{
				{Kind: KindNotificationOptIn, PageID: page, SenderID: "1", Time: ms,
					OptIn: OptIn{Type: "notification_messages", Payload: "p", Token: "tok", Status: StatusStop, Title: "Weekly deals"}},
				{Kind: KindNotificationOptIn, PageID: page, SenderID: "1", Time: ms.Add(time.Millisecond),
					OptIn: OptIn{Type: "notification_messages", Payload: "p", Token: "tok", Status: StatusResume, Title: "Weekly deals"}},
				{Kind: KindNotificationOptIn, PageID: page, SenderID: "1", Time: ms.Add(2 * time.Millisecond),
					OptIn: OptIn{Type: "notification_messages", Token: "tok", Status: StatusStop, Title: "Weekly deals"}},
			},
		},
		{
			name: "opt-in through an m.me/rn link: topic, ref and source",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"optin":{"type":"notification_messages","notification_messages_token":"6717424155031498852",
				"notification_messages_topic":"Weekly deals","notification_messages_timezone":"UTC","ref":"deals_qr","source":"SHORTLINK","title":"Weekly deals"}}`),
			want: []Event{{Kind: KindNotificationOptIn, PageID: page, SenderID: person, Time: ms,
				OptIn: OptIn{Type: "notification_messages", Token: "6717424155031498852", Topic: "Weekly deals", Timezone: "UTC",
					Ref: "deals_qr", Source: "SHORTLINK", Title: "Weekly deals"}}},
		},
		{
			name: "one-time notification request and customer-matching accept: opt-ins, but no plugin's",
			body: in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,
				"optin":{"type":"one_time_notif_req","payload":"restock","one_time_notif_token":"otn-1"}},
				{"sender":{"id":"` + person + `"},"recipient":{"id":"` + page + `"},"timestamp":1458692752478,"optin":{"message_request":"accept"}}`),
			wantIgnored: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Ignored != tt.wantIgnored || d.Skipped != 0 {
				t.Errorf("ignored %d, skipped %d; want %d, 0", d.Ignored, d.Skipped, tt.wantIgnored)
			}
			if len(d.Events) != len(tt.want) {
				t.Fatalf("got %d events, want %d: %+v", len(d.Events), len(tt.want), d.Events)
			}
			for i, got := range d.Events {
				got.Fingerprint = [16]byte{}
				if got != tt.want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got, tt.want[i])
				}
			}
		})
	}
}
