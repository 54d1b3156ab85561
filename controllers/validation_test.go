package controllers_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// The API server rejects bad manifests at apply time, with a message that names the field, so that
// `kubectl apply` and GitOps tools report the mistake before anything is written.
func TestInvalidMessengerLinksAreRejected(t *testing.T) {
	ns := newNamespace(t)
	tests := []struct {
		name      string
		mutate    func(*messengerv1.MessengerLink)
		wantField string
		wantText  string
	}{
		{"username too short", func(l *messengerv1.MessengerLink) { l.Spec.Page.Username = "abc" }, "spec.page.username", "at least 5"},
		{"username with a dash", func(l *messengerv1.MessengerLink) { l.Spec.Page.Username = "acme-shoes" }, "spec.page.username", "should match"},
		{"username of periods only", func(l *messengerv1.MessengerLink) { l.Spec.Page.Username = "......" }, "spec.page.username", "letter or digit"},
		{"page ID missing", func(l *messengerv1.MessengerLink) { l.Spec.Page.ID = "" }, "spec.page.id", ""},
		{"page ID not numeric", func(l *messengerv1.MessengerLink) { l.Spec.Page.ID = "acme" }, "spec.page.id", "should match"},
		{"ref with a space", func(l *messengerv1.MessengerLink) { l.Spec.Ref = "summer sale" }, "spec.ref", "should match"},
		{"ref of 251 characters", func(l *messengerv1.MessengerLink) { l.Spec.Ref = strings.Repeat("a", 251) }, "spec.ref", "250"},
		{"ref with the field separator", func(l *messengerv1.MessengerLink) { l.Spec.Ref = "a--b" }, "spec.ref", "'--'"},
		{"ref ending in a dash", func(l *messengerv1.MessengerLink) { l.Spec.Ref = "summer-" }, "spec.ref", "should match"},
		{"fields without ref", func(l *messengerv1.MessengerLink) {
			l.Spec.Ref = ""
			l.Spec.Fields = []messengerv1.RefField{{ID: "1", Value: "x"}}
		}, "spec", "fields require ref"},
		{"field value with a slash", func(l *messengerv1.MessengerLink) {
			l.Spec.Fields = []messengerv1.RefField{{ID: "1", Value: "a/b"}}
		}, "spec.fields[0].value", "should match"},
		{"duplicate field IDs", func(l *messengerv1.MessengerLink) {
			l.Spec.Fields = []messengerv1.RefField{{ID: "1", Value: "a"}, {ID: "1", Value: "b"}}
		}, "spec.fields[1]", "Duplicate"},
		{"encoded ref over 250 characters", func(l *messengerv1.MessengerLink) {
			l.Spec.Ref = strings.Repeat("r", 200)
			l.Spec.Fields = []messengerv1.RefField{{ID: "1", Value: strings.Repeat("v", 60)}}
		}, "spec", "at most 250"},
		{"text too long", func(l *messengerv1.MessengerLink) { l.Spec.Text = strings.Repeat("x", 1001) }, "spec.text", "1000"},
		{"QR size too small", func(l *messengerv1.MessengerLink) { l.Spec.QR = &messengerv1.QRSpec{Size: ptr.To[int32](10)} }, "spec.qr.size", "64"},
		{"QR size too large", func(l *messengerv1.MessengerLink) { l.Spec.QR = &messengerv1.QRSpec{Size: ptr.To[int32](4096)} }, "spec.qr.size", "2048"},
		{"unknown error correction", func(l *messengerv1.MessengerLink) { l.Spec.QR = &messengerv1.QRSpec{ErrorCorrection: "X"} }, "spec.qr.errorCorrection", "Unsupported value"},
		{"quiet zone too wide", func(l *messengerv1.MessengerLink) { l.Spec.QR = &messengerv1.QRSpec{QuietZone: ptr.To[int32](40)} }, "spec.qr.quietZone", "16"},
		{"unknown format", func(l *messengerv1.MessengerLink) {
			l.Spec.QR = &messengerv1.QRSpec{Formats: []messengerv1.QRFormat{"gif"}}
		}, "spec.qr.formats[0]", "Unsupported value"},
		{"bad ConfigMap name", func(l *messengerv1.MessengerLink) { l.Spec.ConfigMapName = "Not_A_Name" }, "spec.configMapName", "should match"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLink(ns, "bad-"+strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")), tt.mutate)
			l.Name = truncateName(l.Name, i)
			err := k8sClient.Create(context.Background(), l)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %s with %q", err, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestInvalidNotificationTopicsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	valid := func() *messengerv1.NotificationTopic {
		return &messengerv1.NotificationTopic{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns},
			Spec: messengerv1.NotificationTopicSpec{
				Page:  messengerv1.PageRef{ID: "1122334455"},
				Topic: "Weekly deals",
			},
		}
	}
	tests := []struct {
		name      string
		mutate    func(*messengerv1.NotificationTopic)
		wantField string
		wantText  string
	}{
		{"unknown cadence", func(t *messengerv1.NotificationTopic) { t.Spec.Cadence = "hourly" }, "spec.cadence", "Unsupported value"},
		{"topic of 66 characters", func(t *messengerv1.NotificationTopic) { t.Spec.Topic = strings.Repeat("a", 66) }, "spec.topic", "65"},
		{"topic with punctuation", func(t *messengerv1.NotificationTopic) { t.Spec.Topic = "deals!" }, "spec.topic", "should match"},
		{"topic with a double space", func(t *messengerv1.NotificationTopic) { t.Spec.Topic = "weekly  deals" }, "spec.topic", "should match"},
		{"registration without token", func(t *messengerv1.NotificationTopic) {
			t.Spec.Registration = &messengerv1.RegistrationSpec{RecipientID: "123"}
		}, "spec", "accessTokenSecretRef"},
		{"unknown CTA text", func(t *messengerv1.NotificationTopic) {
			t.Spec.Registration = &messengerv1.RegistrationSpec{RecipientID: "123", CTAText: "CLICK"}
			t.Spec.AccessTokenSecretRef = &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"}
		}, "spec.registration.ctaText", "Unsupported value"},
		{"image over http", func(t *messengerv1.NotificationTopic) {
			t.Spec.Registration = &messengerv1.RegistrationSpec{RecipientID: "123", ImageURL: "http://example.com/a.png"}
			t.Spec.AccessTokenSecretRef = &messengerv1.SecretKeySelector{Name: "page-token", Key: "token"}
		}, "spec.registration.imageURL", "should match"},
		{"bad Graph API version", func(t *messengerv1.NotificationTopic) { t.Spec.GraphAPIVersion = "23" }, "spec.graphAPIVersion", "should match"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := valid()
			topic.Name = truncateName("bad-"+strings.ToLower(strings.ReplaceAll(tt.name, " ", "-")), i)
			tt.mutate(topic)
			err := k8sClient.Create(context.Background(), topic)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.wantField) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %s with %q", err, tt.wantField, tt.wantText)
			}
		})
	}
	// And the valid one is accepted, with observedGeneration -1 until a controller has looked at it.
	topic := valid()
	topic.Name = "good"
	create(t, topic)
	if topic.Status.ObservedGeneration != -1 {
		t.Errorf("new topic observedGeneration = %d, want -1", topic.Status.ObservedGeneration)
	}
}

func truncateName(name string, i int) string {
	if len(name) > 50 {
		name = strings.TrimRight(name[:50], "-")
	}
	return name + "-" + string(rune('a'+i%26))
}
