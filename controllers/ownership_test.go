package controllers_test

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The controller and the webhook server own different status fields. A reconcile, after a spec change
// that rewrites url and conditions, leaves the referral counts as the webhook server wrote them.
func TestReconcileNeverErasesReferralCounts(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	link := newLink(ns, "counted")
	create(t, link)
	key := client.ObjectKeyFromObject(link)
	got := waitLinkReason(t, key, metav1.ConditionTrue, messengerv1.ReasonSucceeded)

	// What the webhook server writes: a status patch of referrals only.
	base := got.DeepCopy()
	got.Status.Referrals = &messengerv1.ReferralStats{Total: 7, NewConversations: 4, BySource: map[string]int64{"SHORTLINK": 7}}
	if err := k8sClient.Status().Patch(ctx, got, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}

	got.Spec.Text = "A new greeting"
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		l, c, err := linkCondition(key, messengerv1.ConditionReady)
		if err != nil {
			return err
		}
		if c.Status != metav1.ConditionTrue || l.Status.URL == got.Status.URL {
			return fmt.Errorf("not reconciled yet: Ready=%s url=%s", c.Status, l.Status.URL)
		}
		if r := l.Status.Referrals; r == nil || r.Total != 7 || r.NewConversations != 4 || r.BySource["SHORTLINK"] != 7 {
			return fmt.Errorf("referrals after reconcile: %+v, want the webhook server's counts", r)
		}
		return nil
	})
}
