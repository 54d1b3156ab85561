package controllers_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// waitLinkCondition waits until the link's condition of type typ has the status and reason.
func waitLinkCondition(t *testing.T, key client.ObjectKey, typ string, status metav1.ConditionStatus, reason string) *messengerv1.MessengerLink {
	t.Helper()
	var link *messengerv1.MessengerLink
	eventually(t, wait, func() error {
		l, c, err := linkCondition(key, typ)
		if err != nil {
			return err
		}
		if c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s=%s %s (%s), want %s %s", typ, c.Status, c.Reason, c.Message, status, reason)
		}
		link = l
		return nil
	})
	return link
}

// A link of a Page kept by a MessengerPage repeats the page's Ready in PageReady, and stays Ready itself
// (its link and QR code are fine). A link in a namespace the page does not allow holds no claim and is
// PageNotAllowed, until the namespace is allowed (here: relabelled at run time to match a Selector).
func TestLinksFollowTheirMessengerPage(t *testing.T) {
	ns := newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	pageKey := createPage(t, newMessengerPage(ns, "acme"))
	waitPage(t, pageKey, pageReady)

	local := newLink(ns, "local")
	create(t, local)
	l := waitLinkCondition(t, client.ObjectKeyFromObject(local), messengerv1.ConditionPageReady, metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if c := apimeta.FindStatusCondition(l.Status.Conditions, messengerv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || !l.HoldsClaim() {
		t.Fatalf("link of an allowed namespace: Ready %v, claim %q", c, l.Status.Claim)
	}

	// Another namespace's link of the same Page: the default allows only the page's own namespace.
	other := newNamespace(t)
	stranger := newLink(other, "stranger", func(l *messengerv1.MessengerLink) { l.Spec.Page.ID = pageID(ns); l.Spec.Ref = "elsewhere" })
	create(t, stranger)
	s := waitLinkReason(t, client.ObjectKeyFromObject(stranger), metav1.ConditionFalse, messengerv1.ReasonPageNotAllowed)
	if s.HoldsClaim() {
		t.Fatalf("a link of a namespace the page does not allow holds claim %q", s.Status.Claim)
	}

	// Selector: namespaces labelled team=growth. Relabelling the namespace lets its link claim the Page.
	updatePage(t, pageKey, func(p *messengerv1.MessengerPage) {
		p.Spec.AllowedNamespaces = &messengerv1.AllowedNamespaces{From: messengerv1.NamespacesFromSelector,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "growth"}}}
	})
	var nsObj corev1.Namespace
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Name: other}, &nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{"team": "growth"}
	if err := k8sClient.Update(context.Background(), &nsObj); err != nil {
		t.Fatal(err)
	}
	s = waitLinkReason(t, client.ObjectKeyFromObject(stranger), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if !s.HoldsClaim() {
		t.Fatal("the relabelled namespace's link did not take its claim")
	}
	// The page's own namespace is not labelled: under the Selector its link is no longer allowed.
	waitLinkReason(t, client.ObjectKeyFromObject(local), metav1.ConditionFalse, messengerv1.ReasonPageNotAllowed)
}
