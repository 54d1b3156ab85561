package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr/qrdecode"
	"github.com/mmelink/operator/internal/testenv"
)

const wait = 20 * time.Second

func newLink(ns, name string, mutate ...func(*messengerv1.MessengerLink)) *messengerv1.MessengerLink {
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: messengerv1.MessengerLinkSpec{
			Page: messengerv1.PageRef{ID: pageID(ns), Username: "acme.shoes"},
			Ref:  "summer_sale",
			Text: "Hi! I saw your poster",
		},
	}
	for _, m := range mutate {
		m(l)
	}
	return l
}

// pageID gives each namespace a Page of its own: ref claims are cluster-wide, and tests must not collide.
func pageID(ns string) string { return testenv.PageID(ns) }

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// condition returns the condition of the given type of the link as stored, or an error describing why
// it is not there yet.
func linkCondition(key client.ObjectKey, typ string) (*messengerv1.MessengerLink, *metav1.Condition, error) {
	l := &messengerv1.MessengerLink{}
	if err := k8sClient.Get(context.Background(), key, l); err != nil {
		return nil, nil, err
	}
	c := apimeta.FindStatusCondition(l.Status.Conditions, typ)
	if c == nil {
		return l, nil, fmt.Errorf("no %s condition yet; conditions: %v", typ, l.Status.Conditions)
	}
	if c.ObservedGeneration != l.Generation || l.Status.ObservedGeneration != l.Generation {
		return l, nil, fmt.Errorf("status describes generation %d, object is at %d", l.Status.ObservedGeneration, l.Generation)
	}
	return l, c, nil
}

// waitLinkReason waits until Ready has the status and reason, and returns the link.
func waitLinkReason(t *testing.T, key client.ObjectKey, status metav1.ConditionStatus, reason string) *messengerv1.MessengerLink {
	t.Helper()
	var link *messengerv1.MessengerLink
	eventually(t, wait, func() error {
		l, c, err := linkCondition(key, messengerv1.ConditionReady)
		if err != nil {
			return err
		}
		if c.Status != status || c.Reason != reason {
			return fmt.Errorf("Ready=%s %s (%s), want %s %s", c.Status, c.Reason, c.Message, status, reason)
		}
		link = l
		return nil
	})
	return link
}

func getConfigMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatalf("getting ConfigMap %s: %v", name, err)
	}
	return cm
}

// checkLinkConfigMap asserts everything a website that mounts the ConfigMap relies on.
func checkLinkConfigMap(t *testing.T, cm *corev1.ConfigMap, link *messengerv1.MessengerLink, wantURL string) {
	t.Helper()
	if got := cm.Data[messengerv1.ConfigMapKeyURL]; got != wantURL {
		t.Errorf("data[url] = %q, want %q", got, wantURL)
	}
	if got, err := qrdecode.PNG(cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]); err != nil || got != wantURL {
		t.Errorf("qr.png decodes to %q (err %v), want %q", got, err, wantURL)
	}
	if got, err := qrdecode.SVG([]byte(cm.Data[messengerv1.ConfigMapKeyQRSVG])); err != nil || got != wantURL {
		t.Errorf("qr.svg decodes to %q (err %v), want %q", got, err, wantURL)
	}
	html := cm.Data[messengerv1.ConfigMapKeySnippet]
	for _, want := range []string{`class="fb-send-to-messenger"`, `page_id="` + link.Spec.Page.ID + `"`, `messenger_app_id="1234567890"`} {
		if !strings.Contains(html, want) {
			t.Errorf("send-to-messenger.html lacks %s:\n%s", want, html)
		}
	}
	if cm.Labels[messengerv1.ManagedByLabel] != messengerv1.ManagedByValue || cm.Labels[messengerv1.LinkNameLabel] != link.Name {
		t.Errorf("labels = %v", cm.Labels)
	}
	if cm.Annotations[messengerv1.ContentHashAnnotation] == "" {
		t.Errorf("no content-hash annotation: %v", cm.Annotations)
	}
	if !metav1.IsControlledBy(cm, link) {
		t.Errorf("ConfigMap is not controlled by the link: %v", cm.OwnerReferences)
	}
}

func TestMessengerLinkLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	link := newLink(ns, "poster", func(l *messengerv1.MessengerLink) {
		l.Spec.Fields = []messengerv1.RefField{{ID: "738", Value: "store12"}, {ID: "514", Value: "spring"}}
	})
	create(t, link)
	key := client.ObjectKeyFromObject(link)

	// Created: the link encodes the ref fields, and the text with %20 for spaces.
	want := "https://m.me/acme.shoes?ref=summer_sale--738--store12--514--spring&text=Hi%21%20I%20saw%20your%20poster"
	got := waitLinkReason(t, key, metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if got.Status.URL != want || got.Status.ConfigMapName != "poster-mlink" {
		t.Fatalf("status url=%q configMapName=%q", got.Status.URL, got.Status.ConfigMapName)
	}
	cm := getConfigMap(t, ns, "poster-mlink")
	checkLinkConfigMap(t, cm, got, want)
	if !strings.Contains(cm.Data[messengerv1.ConfigMapKeySnippet], `data-ref="summer_sale--738--store12--514--spring"`) {
		t.Errorf("snippet lacks the encoded data-ref:\n%s", cm.Data[messengerv1.ConfigMapKeySnippet])
	}

	// Updated: a new text and QR options give a new link and new images in the same ConfigMap.
	got.Spec.Text = "Bonjour"
	got.Spec.Fields = nil
	got.Spec.QR = &messengerv1.QRSpec{Size: ptr.To[int32](512), ErrorCorrection: "H", QuietZone: ptr.To[int32](2)}
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	want = "https://m.me/acme.shoes?ref=summer_sale&text=Bonjour"
	eventually(t, wait, func() error {
		l, c, err := linkCondition(key, messengerv1.ConditionReady)
		if err != nil {
			return err
		}
		if c.Status != metav1.ConditionTrue || l.Status.URL != want {
			return fmt.Errorf("Ready=%s url=%s", c.Status, l.Status.URL)
		}
		return nil
	})
	cm = getConfigMap(t, ns, "poster-mlink")
	checkLinkConfigMap(t, cm, got, want)

	// Renamed ConfigMap: the new one is written, the old one pruned.
	got = waitLinkReason(t, key, metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	got.Spec.ConfigMapName = "poster-link-v2"
	if err := k8sClient.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		old := &corev1.ConfigMap{}
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "poster-mlink"}, old)
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("old ConfigMap still there (err %v)", err)
		}
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "poster-link-v2"}, old)
	})

	// Deleted: the link goes; its ConfigMap carries the owner reference that lets the garbage collector
	// (not part of this test control plane) remove it.
	cm = getConfigMap(t, ns, "poster-link-v2")
	ref := metav1.GetControllerOf(cm)
	if ref == nil || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion || ref.UID != got.UID {
		t.Fatalf("controller reference = %+v", ref)
	}
	if err := k8sClient.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() error {
		err := k8sClient.Get(ctx, key, &messengerv1.MessengerLink{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("link still there (err %v)", err)
		}
		return nil
	})
}

func TestMessengerLinkWithPageIDOnly(t *testing.T) {
	ns := newNamespace(t)
	link := newLink(ns, "plain", func(l *messengerv1.MessengerLink) {
		l.Spec.Page.Username = ""
		l.Spec.Ref = ""
		l.Spec.Text = ""
		l.Spec.QR = &messengerv1.QRSpec{Formats: []messengerv1.QRFormat{messengerv1.QRFormatSVG}}
	})
	create(t, link)
	got := waitLinkReason(t, client.ObjectKeyFromObject(link), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
	if got.Status.URL != "https://m.me/"+pageID(ns) {
		t.Fatalf("url = %q", got.Status.URL)
	}
	cm := getConfigMap(t, ns, "plain-mlink")
	if _, ok := cm.BinaryData[messengerv1.ConfigMapKeyQRPNG]; ok {
		t.Errorf("qr.png written although formats lists only svg")
	}
	if s, err := qrdecode.SVG([]byte(cm.Data[messengerv1.ConfigMapKeyQRSVG])); err != nil || s != got.Status.URL {
		t.Errorf("qr.svg decodes to %q (err %v)", s, err)
	}
	if strings.Contains(cm.Data[messengerv1.ConfigMapKeySnippet], "data-ref") {
		t.Errorf("snippet has a data-ref although the link has no ref")
	}
}
