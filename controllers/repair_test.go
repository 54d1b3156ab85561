package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr/qrdecode"
)

// A person's edit or deletion of the ConfigMap is undone: websites mount it and must get the real link.
func TestConfigMapDriftIsRepaired(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	link := newLink(ns, "drift")
	create(t, link)
	got := waitLinkReason(t, client.ObjectKeyFromObject(link), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	url := got.Status.URL

	edits := []struct {
		name string
		edit func(cm *corev1.ConfigMap)
	}{
		{"url changed", func(cm *corev1.ConfigMap) { cm.Data[messengerv1.ConfigMapKeyURL] = "https://evil.example" }},
		{"svg removed", func(cm *corev1.ConfigMap) { delete(cm.Data, messengerv1.ConfigMapKeyQRSVG) }},
		{"png replaced", func(cm *corev1.ConfigMap) { cm.BinaryData[messengerv1.ConfigMapKeyQRPNG] = []byte("not a png") }},
		{"managed-by label removed", func(cm *corev1.ConfigMap) { delete(cm.Labels, messengerv1.ManagedByLabel) }},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			cm := getConfigMap(t, ns, "drift-mlink")
			e.edit(cm)
			if err := k8sClient.Update(ctx, cm); err != nil {
				t.Fatal(err)
			}
			eventually(t, wait, func() error { return linkConfigMapIntact(ns, "drift-mlink", url) })
		})
	}
	t.Run("deleted", func(t *testing.T) {
		if err := k8sClient.Delete(ctx, getConfigMap(t, ns, "drift-mlink")); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() error { return linkConfigMapIntact(ns, "drift-mlink", url) })
	})
}

func linkConfigMapIntact(ns, name, url string) error {
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		return err
	}
	if cm.Data[messengerv1.ConfigMapKeyURL] != url {
		return fmt.Errorf("url = %q", cm.Data[messengerv1.ConfigMapKeyURL])
	}
	if cm.Labels[messengerv1.ManagedByLabel] != messengerv1.ManagedByValue {
		return fmt.Errorf("labels = %v", cm.Labels)
	}
	if got, err := qrdecode.PNG(cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]); err != nil || got != url {
		return fmt.Errorf("qr.png decodes to %q (%v)", got, err)
	}
	if got, err := qrdecode.SVG([]byte(cm.Data[messengerv1.ConfigMapKeyQRSVG])); err != nil || got != url {
		return fmt.Errorf("qr.svg decodes to %q (%v)", got, err)
	}
	return nil
}

// A ConfigMap the link does not own is left alone; the link says why it is not Ready, and recovers once
// the ConfigMap is gone.
func TestForeignConfigMapIsNotOverwritten(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	foreign := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "site-config"},
		Data:       map[string]string{"url": "https://shop.example", "theme": "dark"},
	}
	create(t, foreign)
	link := newLink(ns, "clash", func(l *messengerv1.MessengerLink) { l.Spec.ConfigMapName = "site-config" })
	create(t, link)
	key := client.ObjectKeyFromObject(link)

	got := waitLinkReason(t, key, metav1.ConditionFalse, messengerv1.ReasonConfigMapConflict)
	if c := findCondition(got, messengerv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True", c)
	}
	consistently(t, 3*recheck, func() error {
		cm := getConfigMap(t, ns, "site-config")
		if cm.Data["url"] != "https://shop.example" || cm.Data["theme"] != "dark" || len(cm.OwnerReferences) != 0 {
			return fmt.Errorf("foreign ConfigMap was changed: %v %v", cm.Data, cm.OwnerReferences)
		}
		return nil
	})

	if err := k8sClient.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	got = waitLinkReason(t, key, metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if c := findCondition(got, messengerv1.ConditionStalled); c != nil {
		t.Errorf("Stalled still set after recovery: %+v", c)
	}
	if err := linkConfigMapIntact(ns, "site-config", got.Status.URL); err != nil {
		t.Error(err)
	}
}

// Two links that claim the same Page and ref cannot both be counted: the older keeps the claim.
func TestRefConflictAppearsAndClears(t *testing.T) {
	ctx := context.Background()
	nsA, nsB := newNamespace(t), newNamespace(t)
	shared := func(l *messengerv1.MessengerLink) { l.Spec.Page.ID = "5550001" }
	older := newLink(nsA, "first", shared)
	create(t, older)
	waitLinkReason(t, client.ObjectKeyFromObject(older), metav1.ConditionTrue, messengerv1.ReasonSucceeded)

	// Creation timestamps have one-second resolution; make sure the second link is newer.
	time.Sleep(1100 * time.Millisecond)
	newer := newLink(nsB, "second", shared)
	create(t, newer)
	got := waitLinkReason(t, client.ObjectKeyFromObject(newer), metav1.ConditionFalse, messengerv1.ReasonRefConflict)
	c := findCondition(got, messengerv1.ConditionReady)
	if want := nsA + "/first"; !strings.Contains(c.Message, want) {
		t.Errorf("message %q does not name the older link %s", c.Message, want)
	}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: nsB, Name: "second-mlink"}, &corev1.ConfigMap{}); err == nil {
		t.Errorf("the losing link got a ConfigMap")
	}
	// The older link is unaffected.
	waitLinkReason(t, client.ObjectKeyFromObject(older), metav1.ConditionTrue, messengerv1.ReasonSucceeded)

	// The older link changes its ref: the conflict clears by itself.
	o := &messengerv1.MessengerLink{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(older), o); err != nil {
		t.Fatal(err)
	}
	o.Spec.Ref = "winter_sale"
	if err := k8sClient.Update(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitLinkReason(t, client.ObjectKeyFromObject(newer), metav1.ConditionTrue, messengerv1.ReasonSucceeded)

	// A third link takes winter_sale from nobody: the first still holds it; deleting the first frees it.
	time.Sleep(1100 * time.Millisecond)
	third := newLink(nsB, "third", shared, func(l *messengerv1.MessengerLink) { l.Spec.Ref = "winter_sale" })
	create(t, third)
	waitLinkReason(t, client.ObjectKeyFromObject(third), metav1.ConditionFalse, messengerv1.ReasonRefConflict)
	if err := k8sClient.Delete(ctx, o); err != nil {
		t.Fatal(err)
	}
	waitLinkReason(t, client.ObjectKeyFromObject(third), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
}

func findCondition(l *messengerv1.MessengerLink, typ string) *metav1.Condition {
	for i := range l.Status.Conditions {
		if l.Status.Conditions[i].Type == typ {
			return &l.Status.Conditions[i]
		}
	}
	return nil
}
