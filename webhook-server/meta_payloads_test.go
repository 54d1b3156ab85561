package webhookserver_test

import (
	"net/http"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/tally"
)

// metaPage is the Page of the deliveries below, shaped as Meta's webhook reference shows them.
const metaPage = "104729384756123"

// claimedLink is a MessengerLink of metaPage that holds its ref.
func claimedLink(name, ref string) *messengerv1.MessengerLink {
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: metaPage}, Ref: ref},
	}
	l.Status.Claim = l.PageRefKey()
	return l
}

// TestMetaReferralsCountForTheRightLink sends each referral and opt-in shape of Meta's reference through
// the handler and applies the counting rules (internal/tally, shared by both ledgers) to what reaches the
// Writer: which link gets the event, and whether it is a new conversation, a returning one, an ad or a
// plugin opt-in.
func TestMetaReferralsCountForTheRightLink(t *testing.T) {
	links := []client.Object{
		claimedLink("poster", "summer_poster"), claimedLink("page", ""), claimedLink("ad", "spring_ad"),
		claimedLink("booth", "booth_7"), claimedLink("site", "pricing"), claimedLink("footer", "website_footer"),
		claimedLink("checkout", "checkout"),
	}
	const person = "6021234567890123"
	in := func(events string) []byte {
		return []byte(`{"object":"page","entry":[{"id":"` + metaPage + `","time":1458692753000,"messaging":[` + events + `]}]}`)
	}
	tests := []struct {
		name string
		body []byte
		link string // "" when no link may count it
		want messengerv1.ReferralStats
	}{
		{"m.me link, new conversation: Get Started with postback.referral",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":"1527459824","postback":{"mid":"m_1",
				"title":"Get Started","payload":"GET_STARTED","referral":{"ref":"summer_poster--738--store12","source":"SHORTLINK","type":"OPEN_THREAD"}}}`),
			"poster", messengerv1.ReferralStats{Total: 1, NewConversations: 1, BySource: map[string]int64{"SHORTLINK": 1},
				Fields: []messengerv1.FieldCounts{{ID: "738", Values: map[string]int64{"store12": 1}}}}},
		{"m.me link, returning conversation: messaging_referrals",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"ref":"summer_poster","source":"SHORTLINK","type":"OPEN_THREAD"}}`),
			"poster", messengerv1.ReferralStats{Total: 1, ReturningConversations: 1, BySource: map[string]int64{"SHORTLINK": 1}}},
		{"m.me link without ref, returning conversation: the link without ref",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"source":"SHORTLINK","type":"OPEN_THREAD"}}`),
			"page", messengerv1.ReferralStats{Total: 1, ReturningConversations: 1, BySource: map[string]int64{"SHORTLINK": 1}}},
		{"m.me link without ref, new conversation, source as the postbacks reference prints it",
			in(`{"sender":{"user_ref":"USER-REF-ID"},"recipient":{"id":"` + metaPage + `"},"timestamp":"1527459824","postback":{"mid":"m_MESSAGE-ID",
				"title":"TITLE-FOR-THE-CTA","payload":"USER-DEFINED-PAYLOAD","referral":{"source":"SHORT-URL","type":"OPEN_THREAD"}}}`),
			"page", messengerv1.ReferralStats{Total: 1, NewConversations: 1, BySource: map[string]int64{"SHORT-URL": 1}}},
		{"ad, returning conversation: ad_id and ads_context_data",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD","ads_context_data":{"ad_title":"Spring sale",
				"photo_url":"https:\/\/scontent.xx.fbcdn.net\/p.jpg","video_url":"https:\/\/scontent.xx.fbcdn.net\/v.jpg","post_id":"104729384756123_99","product_id":"42","flow_id":"7001"}}}`),
			"ad", messengerv1.ReferralStats{Total: 1, ReturningConversations: 1, AdReferrals: 1, BySource: map[string]int64{"ADS": 1}}},
		{"ad, new conversation: the first postback after the ad",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,"postback":{"mid":"m_2",
				"title":"Get Started","payload":"GET_STARTED","referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD"}}}`),
			"ad", messengerv1.ReferralStats{Total: 1, NewConversations: 1, AdReferrals: 1, BySource: map[string]int64{"ADS": 1}}},
		{"ad, first message: message.referral",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,"message":{"mid":"mid.1457764197618:41d1",
				"text":"Is this still available?","referral":{"ref":"spring_ad","ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD",
				"ads_context_data":{"ad_title":"Spring sale","post_id":"104729384756123_99"}}}}`),
			"ad", messengerv1.ReferralStats{Total: 1, AdReferrals: 1, BySource: map[string]int64{"ADS": 1}}},
		{"ad without ref: no link of the Page made it",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"ad_id":"6045246247433","source":"ADS","type":"OPEN_THREAD","ads_context_data":{"ad_title":"Spring sale","post_id":"1_2"}}}`),
			"", messengerv1.ReferralStats{}},
		{"parametric Messenger Code",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"ref":"booth_7","source":"MESSENGER_CODE","type":"OPEN_THREAD"}}`),
			"booth", messengerv1.ReferralStats{Total: 1, ReturningConversations: 1, BySource: map[string]int64{"MESSENGER_CODE": 1}}},
		{"Discover tab, new conversation without ref: no link of the Page made it",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"postback":{"title":"Get Started","payload":"GET_STARTED","referral":{"source":"DISCOVER_TAB","type":"OPEN_THREAD"}}}`),
			"", messengerv1.ReferralStats{}},
		{"chat plugin: sender.user_ref, referer_uri, is_guest_user as a string",
			in(`{"sender":{"user_ref":"5a9b2e4c-user-ref"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"ref":"pricing","source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD","referer_uri":"https:\/\/shop.acme.example\/pricing","is_guest_user":"true"}}`),
			"site", messengerv1.ReferralStats{Total: 1, ReturningConversations: 1, BySource: map[string]int64{"CUSTOMER_CHAT_PLUGIN": 1}}},
		{"chat plugin without ref: no link of the Page made it",
			in(`{"sender":{"user_ref":"5a9b2e4c-user-ref"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752478,
				"referral":{"source":"CUSTOMER_CHAT_PLUGIN","type":"OPEN_THREAD","referer_uri":"https://shop.acme.example/","is_guest_user":true}}`),
			"", messengerv1.ReferralStats{}},
		{"Send-to-Messenger plugin: optin.ref",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1234567890,"optin":{"ref":"website_footer"}}`),
			"footer", messengerv1.ReferralStats{PluginOptIns: 1}},
		{"checkbox plugin: optin.user_ref and no sender",
			in(`{"recipient":{"id":"` + metaPage + `"},"timestamp":1234567890,"optin":{"ref":"checkout","user_ref":"cb-1700000000-42"}}`),
			"checkout", messengerv1.ReferralStats{PluginOptIns: 1}},
		{"customer-matching accept: no plugin, no link",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1234567890,"optin":{"message_request":"accept"}}`),
			"", messengerv1.ReferralStats{}},
		{"one-time notification request: no plugin, no link",
			in(`{"sender":{"id":"` + person + `"},"recipient":{"id":"` + metaPage + `"},"timestamp":1234567890,
				"optin":{"type":"one_time_notif_req","payload":"restock","one_time_notif_token":"otn-1"}}`),
			"", messengerv1.ReferralStats{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, links...)
			rec := f.postSigned(tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d (%s), want 200", rec.Code, rec.Body)
			}
			counts := map[string]*messengerv1.ReferralStats{}
			for _, it := range f.writer.items() {
				if it.Target.Kind != status.KindLink {
					t.Fatalf("attributed to %v, not a link", it.Target)
				}
				st := counts[it.Target.Name]
				if st == nil {
					st = &messengerv1.ReferralStats{}
					counts[it.Target.Name] = st
				}
				tally.AddReferral(st, tally.ReferralOf(&it.Event), 1)
			}
			if tt.link == "" {
				if len(counts) != 0 {
					t.Fatalf("counted for %v, want no link", counts)
				}
				return
			}
			if len(counts) != 1 || counts[tt.link] == nil {
				t.Fatalf("counted for %v, want only link %q", counts, tt.link)
			}
			if got := *counts[tt.link]; !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("link %q counts\n got %+v\nwant %+v", tt.link, got, tt.want)
			}
		})
	}
}

// TestMetaOptInsReachTheirTopic: recurring-notification opt-ins, stops and resumes are attributed to the
// topic by notification_messages_topic (m.me/rn) or title, with the token, topic and status the
// NotificationTopic's Secrets and counts need.
func TestMetaOptInsReachTheirTopic(t *testing.T) {
	topic := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deals"},
		Spec:       messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: metaPage}, Topic: "Weekly deals"},
	}
	topic.Status.Claim = topic.PageTopicKey()
	body := []byte(`{"object":"page","entry":[{"id":"` + metaPage + `","time":1458692753000,"messaging":[
		{"sender":{"id":"1"},"recipient":{"id":"` + metaPage + `"},"timestamp":"1458692752478","optin":{"type":"notification_messages",
			"payload":"deals-v1","notification_messages_token":"tok-1","notification_messages_frequency":"WEEKLY",
			"notification_messages_timezone":"Europe/Paris","token_expiry_timestamp":"1700000000000","user_token_status":"NOT_REFRESHED","title":"Weekly deals"}},
		{"sender":{"id":"2"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752479,"optin":{"type":"notification_messages",
			"notification_messages_token":"tok-2","notification_messages_topic":"Weekly deals","ref":"deals_qr","source":"SHORTLINK","title":"Weekly deals"}},
		{"sender":{"id":"1"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752480,"optin":{"type":"notification_messages",
			"payload":"deals-v1","notification_messages_token":"tok-1","notification_messages_status":"STOP NOTIFICATIONS","title":"Weekly deals"}},
		{"sender":{"id":"1"},"recipient":{"id":"` + metaPage + `"},"timestamp":1458692752481,"optin":{"type":"notification_messages",
			"payload":"deals-v1","notification_messages_token":"tok-1","notification_messages_status":"RESUME_NOTIFICATIONS","title":"Weekly deals"}}]}]}`)
	f := newFixture(t, nil, topic)
	if rec := f.postSigned(body); rec.Code != http.StatusOK {
		t.Fatalf("status %d (%s)", rec.Code, rec.Body)
	}
	items := f.writer.items()
	wantStatus := []delivery.Status{delivery.StatusOptIn, delivery.StatusOptIn, delivery.StatusStop, delivery.StatusResume}
	wantState := []string{tally.TokenActive, tally.TokenActive, tally.TokenStopped, tally.TokenActive}
	if len(items) != len(wantStatus) {
		t.Fatalf("Writer got %d items, want %d", len(items), len(wantStatus))
	}
	for i, it := range items {
		ev := &it.Event
		if it.Target.Kind != status.KindTopic || it.Target.Name != "deals" {
			t.Errorf("item %d attributed to %v, want topic deals", i, it.Target)
		}
		if ev.OptIn.Status != wantStatus[i] || !tally.SetsToken(ev) || tally.TokenState(ev) != wantState[i] {
			t.Errorf("item %d: status %q, sets token %v, state %q; want %q, true, %q",
				i, ev.OptIn.Status, tally.SetsToken(ev), tally.TokenState(ev), wantStatus[i], wantState[i])
		}
	}
	if o := items[0].Event.OptIn; o.Timezone != "Europe/Paris" || o.TokenExpiry.UnixMilli() != 1700000000000 || o.Frequency != "WEEKLY" {
		t.Errorf("opt-in details not read: %+v", o)
	}
	if o := items[1].Event.OptIn; o.Topic != "Weekly deals" || o.Ref != "deals_qr" || o.Source != "SHORTLINK" {
		t.Errorf("m.me/rn opt-in details not read: %+v", o)
	}
}
