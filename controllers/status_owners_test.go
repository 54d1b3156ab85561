package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/controllers"
	"github.com/mmelink/operator/internal/graph/graphtest"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The controllers and the webhook server write one status. While the suite's webhook server counts
// deliveries for a link and a topic, their specs change again and again, and every change makes the
// controller write the status: not one count is lost, and managedFields name each writer for its own
// fields only.
func TestControllerStatusWritesKeepTheWebhookServersCounts(t *testing.T) {
	const events, specChanges = 24, 6
	tests := []struct {
		kind string
		// create makes the object and waits for its first status; deliver delivers event i until it is
		// answered 200; change makes spec change i; counted reads the webhook server's count.
		create  func(t *testing.T, ns string) client.Object
		deliver func(t *testing.T, obj client.Object, i int) error
		change  func(obj client.Object, i int)
		counted func(obj client.Object) int64
		// webhookField is the status field the webhook server writes.
		webhookField string
	}{{
		kind: "MessengerLink",
		create: func(t *testing.T, ns string) client.Object {
			l := newLink(ns, "poster")
			create(t, l)
			waitLinkReason(t, client.ObjectKeyFromObject(l), metav1.ConditionTrue, messengerv1.ReasonSucceeded)
			return l
		},
		deliver: func(t *testing.T, obj client.Object, i int) error {
			l := obj.(*messengerv1.MessengerLink)
			ev := graphtest.ReferralEvent{PageID: l.Spec.Page.ID, PSID: fmt.Sprintf("55520%02d", i), Ref: l.Spec.Ref,
				Time: time.Now().Add(time.Duration(i) * time.Millisecond)}
			return deliverUntilAnswered(func(ctx context.Context) (*http.Response, error) {
				return graphtest.Referral(ctx, webhookURL, suiteAppSecret, ev)
			})
		},
		change: func(obj client.Object, i int) {
			obj.(*messengerv1.MessengerLink).Spec.Text = fmt.Sprintf("Hi! I saw poster %d", i)
		},
		counted: func(obj client.Object) int64 {
			if r := obj.(*messengerv1.MessengerLink).Status.Referrals; r != nil {
				return r.Total
			}
			return 0
		},
		webhookField: "referrals",
	}, {
		kind: "NotificationTopic",
		create: func(t *testing.T, ns string) client.Object {
			tp := newTopic(ns, "deals", func(tp *messengerv1.NotificationTopic) { tp.Spec.Registration = nil })
			create(t, tp)
			waitTopic(t, client.ObjectKeyFromObject(tp), messengerv1.ReasonSucceeded, "")
			return tp
		},
		deliver: func(t *testing.T, obj client.Object, i int) error {
			tp := obj.(*messengerv1.NotificationTopic)
			ev := graphtest.OptinEvent{PageID: tp.Spec.Page.ID, PSID: fmt.Sprintf("55530%02d", i), Title: tp.Spec.Topic,
				Time: time.Now().Add(time.Duration(i) * time.Millisecond)}
			return deliverUntilAnswered(func(ctx context.Context) (*http.Response, error) {
				return graphtest.Optin(ctx, webhookURL, suiteAppSecret, ev)
			})
		},
		change: func(obj client.Object, i int) {
			tp := obj.(*messengerv1.NotificationTopic)
			size := int32(256 + 8*i)
			tp.Spec.QR = &messengerv1.QRSpec{Size: &size}
		},
		counted: func(obj client.Object) int64 {
			if o := obj.(*messengerv1.NotificationTopic).Status.OptIns; o != nil {
				return o.Total
			}
			return 0
		},
		webhookField: "optIns",
	}}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			obj := tt.create(t, ns)
			key := client.ObjectKeyFromObject(obj)

			var wg sync.WaitGroup
			errs := make(chan error, events+specChanges)
			wg.Go(func() {
				for i := range events {
					if err := tt.deliver(t, obj, i); err != nil {
						errs <- fmt.Errorf("event %d: %w", i, err)
					}
				}
			})
			wg.Go(func() {
				for i := range specChanges {
					errs <- retry.RetryOnConflict(retry.DefaultRetry, func() error {
						cur := obj.DeepCopyObject().(client.Object)
						if err := k8sClient.Get(context.Background(), key, cur); err != nil {
							return err
						}
						tt.change(cur, i)
						return k8sClient.Update(context.Background(), cur)
					})
					time.Sleep(100 * time.Millisecond) // spread the changes over the deliveries
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}

			got := obj.DeepCopyObject().(client.Object)
			eventually(t, wait, func() error {
				if err := k8sClient.Get(context.Background(), key, got); err != nil {
					return err
				}
				c := got.(interface{ GetConditions() []metav1.Condition })
				if g := observedGeneration(got); g != got.GetGeneration() {
					return fmt.Errorf("status describes generation %d, %s is at %d", g, tt.kind, got.GetGeneration())
				}
				if r := apimeta.FindStatusCondition(c.GetConditions(), messengerv1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue || r.ObservedGeneration != got.GetGeneration() {
					return fmt.Errorf("Ready = %+v", r)
				}
				return nil
			})
			if n := tt.counted(got); n != events {
				t.Errorf("%s counts %d, want all %d events the webhook server answered 200", tt.kind, n, events)
			}

			owned := statusFieldsBy(t, got)
			ctrlFields, webhookFields := owned[controllers.FieldManager], owned[webhookserver.FieldManager]
			for _, f := range []string{"conditions", "observedGeneration", "url", "configMapName", "claim"} {
				if !slices.Contains(ctrlFields, f) {
					t.Errorf("managedFields: %s does not own status.%s; it owns %v", controllers.FieldManager, f, ctrlFields)
				}
				if slices.Contains(webhookFields, f) {
					t.Errorf("managedFields: %s owns status.%s", webhookserver.FieldManager, f)
				}
			}
			if slices.Contains(ctrlFields, tt.webhookField) {
				t.Errorf("managedFields: %s owns status.%s, which the webhook server writes", controllers.FieldManager, tt.webhookField)
			}
			if !slices.Contains(webhookFields, tt.webhookField) {
				t.Errorf("managedFields: %s does not own status.%s; it owns %v", webhookserver.FieldManager, tt.webhookField, webhookFields)
			}
		})
	}
}

// A MessengerPage's status.webhook is the webhook server's (it reports what it answered for the Page):
// the controller's writes after a spec change keep it, and managedFields say who wrote what.
func TestMessengerPageStatusWritesKeepTheWebhookField(t *testing.T) {
	ns := newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	key := createPage(t, newMessengerPage(ns, "shop"))
	waitPage(t, key, pageReady)

	// Written as the webhook server's Page health writer writes it: a merge patch of status.webhook with
	// the resourceVersion as precondition, under the webhook server's name.
	delivered := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	webhook := client.WithFieldOwner(k8sClient, webhookserver.FieldManager)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := &messengerv1.MessengerPage{}
		if err := k8sClient.Get(context.Background(), key, p); err != nil {
			return err
		}
		base := p.DeepCopy()
		p.Status.Webhook = &messengerv1.PageWebhookStatus{LastDeliveryTime: &delivered}
		return webhook.Status().Patch(context.Background(), p, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	})
	if err != nil {
		t.Fatal(err)
	}

	updatePage(t, key, func(p *messengerv1.MessengerPage) {
		p.Spec.Domains = append(p.Spec.Domains, "https://blog.acme.example")
	})
	got := waitPage(t, key, func(p *messengerv1.MessengerPage) error {
		if !slices.Contains(p.Status.AddedDomains, "https://blog.acme.example") {
			return fmt.Errorf("addedDomains = %v", p.Status.AddedDomains)
		}
		return pageReady(p)
	})
	if w := got.Status.Webhook; w == nil || !w.LastDeliveryTime.Equal(&delivered) {
		t.Errorf("status.webhook = %+v after the controller's writes, want lastDeliveryTime %s", w, delivered)
	}
	owned := statusFieldsBy(t, got)
	if c := owned[controllers.FieldManager]; !slices.Contains(c, "addedDomains") || slices.Contains(c, "webhook") {
		t.Errorf("managedFields: %s owns %v, want addedDomains and not webhook", controllers.FieldManager, c)
	}
	if w := owned[webhookserver.FieldManager]; !slices.Equal(w, []string{"webhook"}) {
		t.Errorf("managedFields: %s owns %v, want [webhook]", webhookserver.FieldManager, w)
	}
}

// The topic controller decides on Send API calls from status, so its writes carry the resourceVersion
// they were computed from: a write from a topic read before the webhook server counted an opt-in fails
// with a conflict (the controller reads again), and leaves the count; the same write from a fresh read
// goes through, and still leaves it.
func TestTopicStatusWriteFromAStaleReadConflicts(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tp := newTopic(ns, "deals", func(tp *messengerv1.NotificationTopic) { tp.Spec.Registration = nil })
	create(t, tp)
	read := waitTopic(t, client.ObjectKeyFromObject(tp), messengerv1.ReasonSucceeded, "")
	countOptin(t, read, "5554001")

	stale := read.DeepCopy()
	stale.Status.URL += "#stale"
	err := controllers.PatchTopicStatus(ctx, k8sClient, read, stale)
	if !apierrors.IsConflict(err) {
		t.Fatalf("a status write from a read before the opt-in: %v, want a conflict", err)
	}

	fresh := getTopic(t, tp)
	edited := fresh.DeepCopy()
	edited.Status.URL += "#fresh"
	if err := controllers.PatchTopicStatus(ctx, k8sClient, fresh, edited); err != nil {
		t.Fatalf("a status write from a fresh read: %v", err)
	}
	got := getTopic(t, tp)
	if got.Status.URL != read.Status.URL+"#fresh" {
		t.Errorf("url = %q, want the fresh write's", got.Status.URL)
	}
	if o := got.Status.OptIns; o == nil || o.Total != 1 {
		t.Errorf("optIns = %+v after the controller's writes, want the webhook server's one opt-in", o)
	}
}

// deliverUntilAnswered sends a delivery until it is answered 200, as Meta resends: a 503 means not
// stored, and the resend of the same event counts once.
func deliverUntilAnswered(send func(context.Context) (*http.Response, error)) error {
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := send(ctx)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("webhook answered %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// statusFieldsBy maps each manager to the top-level status fields it owns, sorted.
func statusFieldsBy(t *testing.T, obj client.Object) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, e := range obj.GetManagedFields() {
		if e.Subresource != "status" || e.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if err := json.Unmarshal(e.FieldsV1.GetRawBytes(), &fields); err != nil {
			t.Fatalf("managedFields of %s: %v", e.Manager, err)
		}
		for f := range fields["f:status"] {
			if len(f) > 2 && f[:2] == "f:" {
				out[e.Manager] = append(out[e.Manager], f[2:])
			}
		}
		slices.Sort(out[e.Manager])
	}
	return out
}

func observedGeneration(obj client.Object) int64 {
	switch o := obj.(type) {
	case *messengerv1.MessengerLink:
		return o.Status.ObservedGeneration
	case *messengerv1.NotificationTopic:
		return o.Status.ObservedGeneration
	}
	return -1
}
