package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/qr/qrdecode"
)

// A topic with a registration: its link lands in a ConfigMap, one opt-in request goes to the recipient,
// and the topic is registered when the webhook server records the recipient's opt-in.
func TestNotificationTopicRegistration(t *testing.T) {
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals")
	create(t, topic)
	key := client.ObjectKeyFromObject(topic)

	got := waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)

	// The link, as a MessengerLink writes its own.
	wantURL := "https://m.me/rn/acme.shoes?topic=Weekly%20deals&cadence=weekly"
	if got.Status.URL != wantURL || got.Status.ConfigMapName != "deals-ntopic" {
		t.Fatalf("status url=%q configMapName=%q", got.Status.URL, got.Status.ConfigMapName)
	}
	cm := getConfigMap(t, ns, "deals-ntopic")
	if cm.Data[messengerv1.ConfigMapKeyURL] != wantURL || cm.Labels[messengerv1.TopicNameLabel] != "deals" ||
		cm.Labels[messengerv1.ManagedByLabel] != messengerv1.ManagedByValue || !metav1.IsControlledBy(cm, got) {
		t.Errorf("ConfigMap data[url]=%q labels=%v owners=%v", cm.Data[messengerv1.ConfigMapKeyURL], cm.Labels, cm.OwnerReferences)
	}
	if s, err := qrdecode.PNG(cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]); err != nil || s != wantURL {
		t.Errorf("qr.png decodes to %q (err %v)", s, err)
	}
	if _, ok := cm.Data[messengerv1.ConfigMapKeySnippet]; ok {
		t.Errorf("a topic's ConfigMap has a Send-to-Messenger snippet")
	}

	// One request, as Meta expects it, with the token in the Authorization header only.
	reqs := pageRequests(pageID(ns))
	if len(reqs) != 1 {
		t.Fatalf("%d Send API requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.TokenSource != "header" || strings.Contains(r.URL, tokenFor(ns)) || r.Status != http.StatusOK {
		t.Errorf("request token source %q, URL %q, answered %d", r.TokenSource, r.URL, r.Status)
	}
	if r.Send == nil || r.Send.Recipient.ID != recipient || r.Send.Message.Attachment == nil {
		t.Fatalf("request body = %s", r.Body)
	}
	p := r.Send.Message.Attachment.Payload
	if p.TemplateType != "notification_messages" || p.Title != "Weekly deals" || p.Payload != "registration-deals" ||
		p.CTAText != "GET_UPDATES" || p.ImageURL != "https://acme.example/deals.png" {
		t.Errorf("template payload = %+v", p)
	}

	// Status records the request; the condition tells what the recipient must do.
	reg := got.Status.Registration
	if reg == nil || reg.RequestID == "" || reg.Title != "Weekly deals" || reg.IntentTime == nil || reg.SentTime == nil ||
		!strings.HasPrefix(reg.MessageID, "m_") || reg.Attempts != 0 || reg.NextAttemptTime != nil {
		t.Fatalf("status.registration = %+v", reg)
	}
	if msg := condition(got, messengerv1.ConditionRegistered).Message; !strings.Contains(msg, "must tap") {
		t.Errorf("Registered message does not tell what to do: %s", msg)
	}
	if c := condition(got, messengerv1.ConditionReconciling); c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %+v while awaiting the confirmation", c)
	}

	// The webhook server records the recipient's opt-in: the topic is registered.
	confirm(t, got)
	got = waitTopic(t, key, messengerv1.ReasonConfirmed, messengerv1.ReasonConfirmed)
	if c := condition(got, messengerv1.ConditionRegistered); c.Status != metav1.ConditionTrue {
		t.Errorf("Registered = %+v", c)
	}
	if c := condition(got, messengerv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	eventually(t, wait, func() error {
		evs := strings.Join(topicEvents(t, ns), "\n")
		for _, want := range []string{"RequestSent: ", "Confirmed: "} {
			if !strings.Contains(evs, want) {
				return fmt.Errorf("no %q event in:\n%s", want, evs)
			}
		}
		return nil
	})
	if n := len(pageRequests(pageID(ns))); n != 1 {
		t.Errorf("%d requests after the confirmation, want still 1", n)
	}
	checkNoToken(t, ns)
}

// Without spec.registration the topic is only a link, and Graph API is never called.
func TestNotificationTopicWithoutRegistration(t *testing.T) {
	ns := newNamespace(t)
	topic := newTopic(ns, "plain", func(tp *messengerv1.NotificationTopic) {
		tp.Spec.Registration, tp.Spec.AccessTokenSecretRef = nil, nil
	})
	create(t, topic)
	got := waitTopic(t, client.ObjectKeyFromObject(topic), messengerv1.ReasonSucceeded, "")
	if c := condition(got, messengerv1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	if got.Status.Registration != nil || len(pageRequests(pageID(ns))) != 0 {
		t.Errorf("registration %+v, %d requests; want none", got.Status.Registration, len(pageRequests(pageID(ns))))
	}
}

// Each class of Graph API error ends in its condition. Only transient failures and throttling are
// retried, and each retry is one request.
func TestTopicRegistrationErrors(t *testing.T) {
	type setup func(page, token string)
	fail := func(code, subcode, status, times int) setup {
		return func(page, _ string) { emu.FailNext(page, code, subcode, status, times) }
	}
	cases := []struct {
		name  string
		setup setup
		// secret is what the token Secret holds ("" for the right token).
		secret string
		// stalled is the reason of a failure for good; "" when the request must end up sent.
		stalled string
		// inMessage must appear in the Stalled message.
		inMessage []string
		requests  int
		// delivered is false when Meta's answer was lost and no message ID is known.
		delivered bool
		// warning is the reason of the one Warning event: one per change of the Ready reason, not per retry.
		warning string
	}{
		{name: "invalid token", secret: "EAAGrevokedtoken", stalled: "InvalidToken",
			inMessage: []string{"(#190)", "fbtrace_id", `key "token" of Secret page-token`}, requests: 1},
		{name: "permission denied", setup: fail(200, 0, 0, 1), stalled: "PermissionDenied", inMessage: []string{"(#200)"}, requests: 1},
		{name: "topic restricted", setup: fail(10, 1893063, 0, 1), stalled: "TopicRestricted", inMessage: []string{"(#10/1893063)"}, requests: 1},
		{name: "recipient opted out", setup: fail(10, 1893015, 0, 1), stalled: "RecipientOptedOut", inMessage: []string{"(#10/1893015)"}, requests: 1},
		{name: "policy block", setup: fail(368, 0, 0, 1), stalled: "PolicyBlocked", inMessage: []string{"(#368)"}, requests: 1},
		{name: "outside the messaging window", setup: fail(10, 2018278, 0, 1), stalled: "RecipientUnavailable",
			inMessage: []string{"(#10/2018278)", "within the last 24 hours"}, requests: 1},
		{name: "weekly limit on the first attempt", setup: fail(613, 1893016, 0, 1), stalled: "RequestLimitReached",
			inMessage: []string{"(#613/1893016)", "one opt-in request per title per person per week"}, requests: 1},
		{name: "an error that echoes the token", stalled: "InvalidRequest", inMessage: []string{"[REDACTED]"}, requests: 1,
			setup: func(page, token string) {
				emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{Code: 100, Message: "(#100) Bad access_token " + token, Times: 1})
			}},
		{name: "server errors", setup: fail(2, 0, 0, 2), requests: 3, delivered: true, warning: "Transient"},
		{name: "temporary send failure", setup: fail(1200, 2018024, 0, 1), requests: 2, delivered: true, warning: "Transient"},
		{name: "proxy error page", setup: fail(0, 0, http.StatusBadGateway, 1), requests: 2, delivered: true, warning: "Transient"},
		// The request was sent and the answer lost: it may have arrived, so it is never sent again by itself.
		{name: "connection dropped after sending", stalled: "RequestInDoubt", requests: 1, warning: "RequestInDoubt",
			inMessage: []string{"answer was lost", "resolve-registration=sent"}, setup: func(page, _ string) {
				emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{CloseConnection: true, Times: 1})
			}},
		{name: "throttled", setup: fail(4, 0, 0, 1), requests: 2, delivered: true, warning: "RateLimited"},
		// Meta refuses a repeat within the week only if the earlier attempt arrived.
		{name: "weekly refusal after a failed attempt", requests: 2, delivered: false, warning: "Transient", setup: func(page, t string) {
			fail(2, 0, 0, 1)(page, t)
			fail(613, 1893016, 0, 1)(page, t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			page, token := pageID(ns), tokenFor(ns)
			secret := tc.secret
			if secret == "" {
				secret = token
			}
			topic := newTopic(ns, "deals")
			if tc.setup != nil {
				tc.setup(page, token)
			}
			createTokenSecret(t, ns, secret)
			create(t, topic)
			key := client.ObjectKeyFromObject(topic)

			if tc.stalled != "" {
				got := waitTopic(t, key, tc.stalled, tc.stalled)
				stalled := condition(got, messengerv1.ConditionStalled)
				if stalled.Status != metav1.ConditionTrue || stalled.Reason != tc.stalled {
					t.Errorf("Stalled = %+v", stalled)
				}
				for _, want := range tc.inMessage {
					if !strings.Contains(stalled.Message, want) {
						t.Errorf("Stalled message lacks %q: %s", want, stalled.Message)
					}
				}
				// Not retried: nothing more reaches Meta.
				consistently(t, 1500*time.Millisecond, func() error {
					if n := len(pageRequests(page)); n != tc.requests {
						return fmt.Errorf("%d requests, want %d", n, tc.requests)
					}
					return nil
				})
			} else {
				got := waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
				if reg := got.Status.Registration; reg.Attempts != 0 || reg.NextAttemptTime != nil || (reg.MessageID != "") != tc.delivered {
					t.Errorf("status.registration = %+v, want reset attempts and a message ID: %v", reg, tc.delivered)
				}
				if n := len(pageRequests(page)); n != tc.requests {
					t.Errorf("%d requests, want %d", n, tc.requests)
				}
			}
			warning := tc.warning
			if warning == "" {
				warning = tc.stalled
			}
			eventually(t, wait, func() error {
				if n := countPrefix(topicEvents(t, ns), warning+": "); n != 1 {
					return fmt.Errorf("%d %s events, want 1: %q", n, warning, topicEvents(t, ns))
				}
				return nil
			})
			checkNoToken(t, ns)
		})
	}
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// A Page that Graph API throttles, saying when access returns: the controller calls again only then.
func TestTopicWaitsOutThrottling(t *testing.T) {
	ns := newNamespace(t)
	page := pageID(ns)
	const regain = 3 * time.Second
	usage := http.Header{}
	usage.Set("X-Business-Use-Case-Usage", fmt.Sprintf(`{%q:[{"type":"messenger","call_count":100,"total_cputime":100,`+
		`"total_time":100,"estimated_time_to_regain_access":%g}]}`, page, regain.Minutes()))
	emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{Code: 80006, Header: usage, Times: 1})
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals")
	create(t, topic)
	key := client.ObjectKeyFromObject(topic)

	got := waitTopic(t, key, messengerv1.ReasonRateLimited, messengerv1.ReasonRateLimited)
	ready := condition(got, messengerv1.ConditionReady)
	if !strings.Contains(ready.Message, "(#80006)") || !strings.Contains(ready.Message, "goes at") {
		t.Errorf("Ready message does not say when: %s", ready.Message)
	}
	if c := condition(got, messengerv1.ConditionReconciling); c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %+v", c)
	}
	waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
	reqs := pageRequests(page)
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < regain {
		t.Errorf("called again after %s, before the regain time %s", gap, regain)
	}
}

// A topic meets a foreign ConfigMap as a MessengerLink does: it leaves it alone, says why, and goes on,
// registration included, once the ConfigMap is gone.
func TestTopicForeignConfigMap(t *testing.T) {
	ns := newNamespace(t)
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "site-config"},
		Data: map[string]string{"theme": "dark"}}
	create(t, foreign)
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals", func(tp *messengerv1.NotificationTopic) { tp.Spec.ConfigMapName = "site-config" })
	create(t, topic)
	key := client.ObjectKeyFromObject(topic)

	got := waitTopic(t, key, messengerv1.ReasonConfigMapConflict, "")
	if c := condition(got, messengerv1.ConditionStalled); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "not owned by this NotificationTopic") {
		t.Errorf("Stalled = %+v", c)
	}
	if n := len(pageRequests(pageID(ns))); n != 0 {
		t.Errorf("%d requests while the link cannot be written", n)
	}
	if cm := getConfigMap(t, ns, "site-config"); cm.Data["theme"] != "dark" || len(cm.OwnerReferences) != 0 {
		t.Errorf("foreign ConfigMap was changed: %v %v", cm.Data, cm.OwnerReferences)
	}

	if err := k8sClient.Delete(context.Background(), foreign); err != nil {
		t.Fatal(err)
	}
	waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
}
