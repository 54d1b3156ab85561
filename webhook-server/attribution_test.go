package webhookserver_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestAttribution resolves events against a real API server through the manager's cache and its field
// indexes, and checks the targets handed to the Writer.
func TestAttribution(t *testing.T) {
	c, cache := startCluster(t)
	ns := newNamespace(t, c)
	// A Page of its own: links are looked up cluster-wide.
	page := fmt.Sprintf("77%d", time.Now().UnixNano()%1e12)
	const registrant = "4242424242"

	newLink := func(name, ref string) *messengerv1.MessengerLink {
		return &messengerv1.MessengerLink{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: page}, Ref: ref},
		}
	}
	newTopic := func(name, topic string, reg *messengerv1.RegistrationSpec) *messengerv1.NotificationTopic {
		tp := &messengerv1.NotificationTopic{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: page}, Topic: topic, Registration: reg},
		}
		if reg != nil {
			tp.Spec.AccessTokenSecretRef = &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"}
		}
		return tp
	}

	// The webhook server attributes to the object whose status says it holds the claim (the controller
	// decides that), never by age or name: "a-held-older" is older and sorts first by name, but
	// "z-held" holds "held".
	notHolding := newLink("a-held-older", "held")
	create(t, c, notHolding)
	waitForNextSecond(t, notHolding.CreationTimestamp.Time) // creation times have a resolution of one second
	holders := []client.Object{
		newLink("summer", "summer"),
		newLink("no-ref", ""),
		newLink("z-dup-older", "dup"),
		newLink("z-held", "held"),
		newTopic("deals", "Weekly deals", &messengerv1.RegistrationSpec{RecipientID: registrant}),
		newTopic("news", "Daily news", nil),
	}
	for _, o := range holders {
		create(t, c, o)
		holdClaim(t, o)
	}
	for _, o := range []client.Object{newLink("a-dup-newer", "dup"), newTopic("deals-copy", "Weekly deals", nil)} {
		create(t, c, o) // they claim, but do not hold
	}
	// A link being deleted holds nothing, whatever its status says (a finalizer keeps it while it goes).
	going := newLink("going", "going")
	going.Finalizers = []string{"test.mmelink.io/keep"}
	create(t, c, going)
	holdClaim(t, going)
	if err := c.Delete(context.Background(), going); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
		if err := c.Patch(context.Background(), going, patch); err != nil {
			t.Errorf("removing the finalizer: %v", err)
		}
	})
	eventually(t, 10*time.Second, func() error {
		var got messengerv1.MessengerLink
		if err := cache.Get(context.Background(), client.ObjectKeyFromObject(going), &got); err != nil || got.DeletionTimestamp == nil {
			return fmt.Errorf("the cache does not show the link being deleted (%v)", err)
		}
		return nil
	})
	waitForCache(t, cache, page, 7, 3)

	link := func(name string) status.Target { return target(status.KindLink, ns, name) }
	topic := func(name string) status.Target { return target(status.KindTopic, ns, name) }
	const person = "6543210987654321"
	tests := []struct {
		name  string
		event string
		// want is the target of the event's item; zero for an unmatched event.
		want          status.Target
		wantRecipient bool
	}{
		{"referral with the base ref", referral(page, person, "summer"), link("summer"), false},
		{"new conversation with ref fields", postbackReferral(page, person, "summer--738--store12"), link("summer"), false},
		{"ad referral", adReferral(page, person, "summer--514--spring"), link("summer"), false},
		{"plugin opt-in with data-ref and fields", pluginOptIn(page, person, "summer--738--store12"), link("summer"), false},
		{"referral without ref: the link without ref", referral(page, person, ""), link("no-ref"), false},
		{"plugin opt-in without data-ref: the link without ref", pluginOptIn(page, person, ""), link("no-ref"), false},
		{"two links claim the ref: the holder gets it", referral(page, person, "dup--1--x"), link("z-dup-older"), false},
		{"the holder gets it, not the older link", referral(page, person, "held"), link("z-held"), false},
		{"ref-less referral from an ad: not the link without ref", adReferral(page, person, ""), status.Target{}, false},
		{"ref-less referral from the Discover tab: not the link without ref", discoverTab(page, person), status.Target{}, false},
		{"a link being deleted gets nothing", referral(page, person, "going"), status.Target{}, false},
		{"unknown ref", referral(page, person, "winter"), status.Target{}, false},
		{"known ref on another Page", referral("1"+page, person, "summer"), status.Target{}, false},
		{"ref that only starts like a known one", referral(page, person, "summertime"), status.Target{}, false},

		{"notification opt-in by topic: the holder of the title", notificationOptIn(page, person, "Weekly deals", "Weekly deals"), topic("deals"), false},
		{"notification opt-in by title only", notificationOptIn(page, person, "", "Daily news"), topic("news"), false},
		{"topic wins over title", notificationOptIn(page, person, "Daily news", "Weekly deals"), topic("news"), false},
		{"registration recipient confirms the topic", notificationOptIn(page, registrant, "", "Weekly deals"), topic("deals"), true},
		{"registrant of no topic of this name", notificationOptIn(page, registrant, "Daily news", ""), topic("news"), false},
		{"opt-in without sender to a topic without registration", checkboxNotificationOptIn(page, "Daily news"), topic("news"), false},
		{"unknown topic", notificationOptIn(page, person, "Monthly digest", ""), status.Target{}, false},
		{"topic names match exactly", notificationOptIn(page, person, "weekly deals", ""), status.Target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *webhookserver.Options) { o.Reader = cache })
			rec := f.postSigned(envelope(tt.event))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d (%s), want 200: unmatched events are acknowledged too", rec.Code, rec.Body)
			}
			items := f.writer.items()
			if tt.want == (status.Target{}) {
				if len(items) != 0 {
					t.Errorf("unmatched event was attributed to %v", items[0].Target)
				}
				if got := f.metric(t, "mmelink_webhook_unmatched_events_total", "", ""); got != 1 {
					t.Errorf("unmatched events = %v, want 1", got)
				}
				return
			}
			if len(items) != 1 {
				t.Fatalf("Writer got %d items, want 1 for %v", len(items), tt.want)
			}
			if items[0].Target != tt.want || items[0].Recipient != tt.wantRecipient {
				t.Errorf("item for %v (recipient %v), want %v (recipient %v)",
					items[0].Target, items[0].Recipient, tt.want, tt.wantRecipient)
			}
			if items[0].Event.PageID != page || items[0].Event.Fingerprint == [16]byte{} {
				t.Errorf("item does not carry the parsed event: %+v", items[0].Event)
			}
		})
	}

	t.Run("one delivery, every kind, once each", func(t *testing.T) {
		f := newFixture(t, func(o *webhookserver.Options) { o.Reader = cache })
		var events []string
		for _, tt := range tests {
			events = append(events, tt.event)
		}
		if rec := f.postSigned(envelope(events...)); rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var got []status.Target
		for _, it := range f.writer.items() {
			got = append(got, it.Target)
		}
		var want []status.Target
		for _, tt := range tests {
			if tt.want != (status.Target{}) {
				want = append(want, tt.want)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("targets in body order:\n got %v\nwant %v", got, want)
		}
		if f.writer.callCount() != 1 {
			t.Errorf("Writer called %d times, want once per delivery", f.writer.callCount())
		}
	})
}

// adReferral is the first message from a click-to-Messenger ad.
func adReferral(page, sender, ref string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752483,`+
		`"message":{"mid":"m_ad","text":"Is it available?","referral":{"ref":%q,"source":"ADS","type":"OPEN_THREAD","ad_id":"6045246247433"}}}`,
		sender, page, ref)
}

// discoverTab is a new conversation started from Messenger's Discover tab: a postback referral without ref.
func discoverTab(page, sender string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752485,`+
		`"postback":{"title":"Get Started","payload":"GET_STARTED","referral":{"source":"DISCOVER_TAB","type":"OPEN_THREAD"}}}`,
		sender, page)
}

// checkboxNotificationOptIn is a notification opt-in identified by optin.user_ref, without a sender.
func checkboxNotificationOptIn(page, topic string) string {
	return fmt.Sprintf(`{"recipient":{"id":%q},"timestamp":1458692752484,"optin":{"type":"notification_messages",`+
		`"user_ref":"u-1","notification_messages_topic":%q,"notification_messages_token":"tok-u1"}}`, page, topic)
}

func target(kind status.Kind, ns, name string) status.Target {
	tg := status.Target{Kind: kind}
	tg.Namespace, tg.Name = ns, name
	return tg
}

func create(t *testing.T, c client.Client, o client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatalf("creating %s: %v", o.GetName(), err)
	}
}

// waitForNextSecond returns once objects created now get a later creation time than created.
func waitForNextSecond(t *testing.T, created time.Time) {
	t.Helper()
	if d := time.Until(created.Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
}

// waitForCache waits until the cache holds the links and topics of page.
func waitForCache(t *testing.T, cache client.Reader, page string, links, topics int) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		var ll messengerv1.MessengerLinkList
		var tl messengerv1.NotificationTopicList
		if err := cache.List(context.Background(), &ll); err != nil {
			return err
		}
		if err := cache.List(context.Background(), &tl); err != nil {
			return err
		}
		n, m := 0, 0
		for _, l := range ll.Items {
			if l.Spec.Page.ID == page {
				n++
			}
		}
		for _, tp := range tl.Items {
			if tp.Spec.Page.ID == page {
				m++
			}
		}
		if n != links || m != topics {
			return fmt.Errorf("cache has %d links and %d topics of the page, want %d and %d", n, m, links, topics)
		}
		return nil
	})
}
