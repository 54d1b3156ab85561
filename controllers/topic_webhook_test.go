package controllers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// The whole registration: the controller sends the opt-in request through the Graph API; the recipient
// taps the button, which Meta reports as a signed messaging_optins delivery to the webhook server; the
// webhook server records it in the topic's status; the controller turns that into Registered=True.
func TestTopicRegisteredThroughASignedOptIn(t *testing.T) {
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	topic := newTopic(ns, "deals")
	create(t, topic)
	key := client.ObjectKeyFromObject(topic)
	waitTopic(t, key, messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)

	// Someone else opting in is not the confirmation.
	deliverOptin(t, graphtest.OptinEvent{PageID: pageID(ns), PSID: "5550001", Title: "Weekly deals", Time: time.Now()})
	consistently(t, time.Second, func() error {
		_, err := checkTopicReason(key, messengerv1.ReasonAwaitingConfirmation)
		return err
	})

	// The recipient taps the button.
	deliverOptin(t, graphtest.OptinEvent{PageID: pageID(ns), PSID: recipient, Title: "Weekly deals", Time: time.Now()})
	got := waitTopic(t, key, messengerv1.ReasonConfirmed, messengerv1.ReasonConfirmed)
	if c := condition(got, messengerv1.ConditionRegistered); c.Status != metav1.ConditionTrue {
		t.Fatalf("Registered = %+v", c)
	}
	o := got.Status.OptIns
	if o == nil || o.ConfirmedTime == nil || o.Total != 2 || o.Active != 2 || len(o.Secrets) != 1 {
		t.Fatalf("status.optIns = %+v, want the two opt-ins and the confirmation", o)
	}
	if n := len(pageRequests(pageID(ns))); n != 1 {
		t.Errorf("%d Send API requests, want 1", n)
	}
	checkNoToken(t, ns)
}

// deliverOptin sends, as Meta would, a signed opt-in delivery to the suite manager's webhook server.
func deliverOptin(t *testing.T, ev graphtest.OptinEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := graphtest.Optin(ctx, webhookURL, suiteAppSecret, ev)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// checkTopicReason reports whether the topic's Ready reason is reason.
func checkTopicReason(key client.ObjectKey, reason string) (*messengerv1.NotificationTopic, error) {
	tp := &messengerv1.NotificationTopic{}
	if err := k8sClient.Get(context.Background(), key, tp); err != nil {
		return nil, err
	}
	if c := condition(tp, messengerv1.ConditionReady); c.Reason != reason {
		return tp, &reasonError{got: c.Reason, want: reason}
	}
	return tp, nil
}

type reasonError struct{ got, want string }

func (e *reasonError) Error() string { return "Ready reason " + e.got + ", want " + e.want }
