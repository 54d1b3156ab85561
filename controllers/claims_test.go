package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// A link that holds its Page and ref keeps them against every newcomer: one created in the same second
// (creation times have one-second resolution) with a name that sorts first once flipped the claim, and
// the link already printed on posters stopped counting.
func TestHeldClaimIsKeptAgainstANewcomerOfTheSameSecond(t *testing.T) {
	ns := newNamespace(t)
	var holder, newcomer *messengerv1.MessengerLink
	for attempt := range 10 {
		// Start right after a second begins, so that the newcomer can be created within it.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		ref := fmt.Sprintf("poster_%d", attempt)
		holder = newLink(ns, fmt.Sprintf("z-holder-%d", attempt), func(l *messengerv1.MessengerLink) { l.Spec.Ref = ref })
		create(t, holder)
		waitLinkReason(t, client.ObjectKeyFromObject(holder), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
		newcomer = newLink(ns, fmt.Sprintf("a-newcomer-%d", attempt), func(l *messengerv1.MessengerLink) { l.Spec.Ref = ref })
		create(t, newcomer)
		if newcomer.CreationTimestamp.Equal(&holder.CreationTimestamp) {
			break
		}
		newcomer = nil // a second passed before the newcomer: try again
	}
	if newcomer == nil {
		t.Fatal("could not create two links within one second in 10 attempts")
	}
	got := waitLinkReason(t, client.ObjectKeyFromObject(newcomer), metav1.ConditionFalse, messengerv1.ReasonRefConflict)
	if c := findCondition(got, messengerv1.ConditionReady); !strings.Contains(c.Message, ns+"/"+holder.Name) {
		t.Errorf("RefConflict message %q does not name the holder %s/%s", c.Message, ns, holder.Name)
	}
	if got.Status.Claim != "" {
		t.Errorf("the newcomer records claim %q", got.Status.Claim)
	}
	consistently(t, 2*time.Second, func() error {
		l, c, err := linkCondition(client.ObjectKeyFromObject(holder), messengerv1.ConditionReady)
		if err != nil {
			return err
		}
		if c.Status != metav1.ConditionTrue || l.Status.Claim != l.PageRefKey() {
			return fmt.Errorf("the holder flipped: Ready=%s %s, claim %q", c.Status, c.Reason, l.Status.Claim)
		}
		return nil
	})
	// The webhook server counts for the holder, and only for it.
	countReferral(t, holder)
	if err := referralsAre(newcomer, 0); err != nil {
		t.Error(err)
	}
}

// A link being deleted holds nothing, in the controller and in the webhook server alike: during a
// foreground deletion (here a finalizer keeps the link while it goes) the next link takes the claim at
// once, and the referrals count for it.
func TestLinkBeingDeletedLetsGoOfItsClaim(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	going := newLink(ns, "going", func(l *messengerv1.MessengerLink) { l.Finalizers = []string{"test.mmelink.io/keep"} })
	create(t, going)
	waitLinkReason(t, client.ObjectKeyFromObject(going), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	next := newLink(ns, "next")
	create(t, next)
	waitLinkReason(t, client.ObjectKeyFromObject(next), metav1.ConditionFalse, messengerv1.ReasonRefConflict)

	if err := k8sClient.Delete(ctx, going); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
		if err := k8sClient.Patch(context.Background(), going, patch); client.IgnoreNotFound(err) != nil {
			t.Errorf("removing the finalizer: %v", err)
		}
	})
	got := waitLinkReason(t, client.ObjectKeyFromObject(next), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if got.Status.Claim != got.PageRefKey() {
		t.Errorf("claim = %q, want %q", got.Status.Claim, got.PageRefKey())
	}
	countReferral(t, next)
	if err := referralsAre(going, 0); err != nil {
		t.Error(err)
	}
}

// Two topics with the same Page and title cannot be told apart in Meta's opt-ins: the older keeps them,
// the newer is Stalled with TopicConflict naming it, sends no opt-in request and is attributed nothing;
// once the older changes its title, the newer goes on by itself.
func TestTopicConflictAppearsAndClears(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	createTokenSecret(t, ns, tokenFor(ns))
	older := newTopic(ns, "deals")
	create(t, older)
	waitTopic(t, client.ObjectKeyFromObject(older), messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)

	// Another recipient: Meta allows one request per title and person a week, which the older one used.
	newer := newTopic(ns, "deals-copy", func(tp *messengerv1.NotificationTopic) { tp.Spec.Registration.RecipientID = "7009999999" })
	create(t, newer)
	got := waitTopic(t, client.ObjectKeyFromObject(newer), messengerv1.ReasonTopicConflict, messengerv1.ReasonTopicConflict)
	stalled := condition(got, messengerv1.ConditionStalled)
	if stalled.Status != metav1.ConditionTrue || stalled.Reason != messengerv1.ReasonTopicConflict ||
		!strings.Contains(stalled.Message, ns+"/deals") {
		t.Errorf("Stalled = %+v, want True, TopicConflict, naming %s/deals", stalled, ns)
	}
	if got.Status.Claim != "" || got.Status.Registration != nil {
		t.Errorf("the newer topic records claim %q and registration %+v", got.Status.Claim, got.Status.Registration)
	}
	if n := len(pageRequests(pageID(ns))); n != 1 {
		t.Errorf("%d opt-in requests, want the older topic's only", n)
	}

	// An opt-in to the title is the older topic's.
	countOptin(t, older, "5550001")
	if tp := getTopic(t, newer); tp.Status.OptIns != nil {
		t.Errorf("newer topic's optIns = %+v, want none", tp.Status.OptIns)
	}

	// The older topic takes another title: the conflict clears, and the newer registers its own.
	o := getTopic(t, older)
	o.Spec.Topic = "Daily deals"
	if err := k8sClient.Update(ctx, o); err != nil {
		t.Fatal(err)
	}
	got = waitTopic(t, client.ObjectKeyFromObject(newer), messengerv1.ReasonAwaitingConfirmation, messengerv1.ReasonAwaitingConfirmation)
	if c := condition(got, messengerv1.ConditionStalled); c.Status == metav1.ConditionTrue {
		t.Errorf("Stalled = %+v after the conflict cleared", c)
	}
	if got.Status.Claim != got.PageTopicKey() {
		t.Errorf("claim = %q, want %q", got.Status.Claim, got.PageTopicKey())
	}
	countOptin(t, newer, "5550002")
}

func getTopic(t *testing.T, tp *messengerv1.NotificationTopic) *messengerv1.NotificationTopic {
	t.Helper()
	got := &messengerv1.NotificationTopic{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(tp), got); err != nil {
		t.Fatal(err)
	}
	return got
}

// countReferral delivers, as Meta would, a signed referral for l's Page and ref to the suite manager's
// webhook server, until it is counted for l: the webhook server's cache may show l's claim a moment after
// the status the test waited for. The same event each time, so that it counts once.
func countReferral(t *testing.T, l *messengerv1.MessengerLink) {
	t.Helper()
	ev := graphtest.ReferralEvent{PageID: l.Spec.Page.ID, PSID: "5550003", Ref: l.Spec.Ref, Time: time.Now()}
	eventually(t, wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := graphtest.Referral(ctx, webhookURL, suiteAppSecret, ev)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
		return referralsAre(l, 1)
	})
}

// countOptin delivers an opt-in of psid to tp's title until tp has counted it (see countReferral).
func countOptin(t *testing.T, tp *messengerv1.NotificationTopic, psid string) {
	t.Helper()
	ev := graphtest.OptinEvent{PageID: tp.Spec.Page.ID, PSID: psid, Title: tp.Spec.Topic, Time: time.Now()}
	eventually(t, wait, func() error {
		deliverOptin(t, ev)
		if o := getTopic(t, tp).Status.OptIns; o == nil || o.Total != 1 {
			return fmt.Errorf("%s's optIns = %+v, want the opt-in", tp.Name, o)
		}
		return nil
	})
}

// referralsAre checks the referral total of l as stored.
func referralsAre(l *messengerv1.MessengerLink, want int64) error {
	got := &messengerv1.MessengerLink{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(l), got); err != nil {
		return err
	}
	var total int64
	if r := got.Status.Referrals; r != nil {
		total = r.Total
	}
	if total != want {
		return fmt.Errorf("%s has %d referrals, want %d", l.Name, total, want)
	}
	return nil
}
