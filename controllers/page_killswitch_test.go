package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/graph/graphtest"
	"github.com/mmelink/operator/internal/pagehealth"
)

// failingReceiver stands for the webhook server: it answers 503 while failing (its store is down), 200
// otherwise, and tells the watchdog's tracker what it answered for each Page, as the handler does.
type failingReceiver struct {
	failing atomic.Bool
	tracker *pagehealth.Tracker
}

func (f *failingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		Entry []struct {
			ID string `json:"id"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(body, &env)
	now := time.Now()
	for _, e := range env.Entry {
		if f.failing.Load() {
			f.tracker.Refused(e.ID, now)
		} else {
			f.tracker.Answered(e.ID, now)
		}
	}
	if f.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Meta's kill switch, end to end: deliveries refused past the limit turn Receiving False (Warning event,
// metric), the emulator unsubscribes the app, the operator does not subscribe it again while the webhook
// server still refuses, and does so by itself, with an event, once the deliveries Meta retries are
// answered 200 again.
func TestMessengerPageKillSwitch(t *testing.T) {
	ns := newNamespace(t)
	emu.AddPage(pageID(ns), tokenFor(ns))
	createTokenSecret(t, ns, tokenFor(ns))
	page := pageID(ns)

	recv := &failingReceiver{tracker: pagehealth.NewTracker()}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	emu.AddApp(graphtest.App{ID: suiteAppID, Name: "mmelink", CallbackURL: srv.URL, Secret: suiteAppSecret})
	emu.SetWebhookRetries(graphtest.RetryPolicy{Immediate: 2, First: 100 * time.Millisecond, Factor: 2,
		Max: 300 * time.Millisecond, GiveUpAfter: time.Minute})
	emu.SetKillSwitchAfter(time.Second)
	defer func() {
		emu.SetKillSwitchAfter(graphtest.DefaultKillSwitchAfter)
		emu.SetWebhookRetries(graphtest.DefaultRetryPolicy)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer := &pagehealth.Writer{Client: k8sClient, Tracker: recv.tracker, MinInterval: 200 * time.Millisecond,
		Tick: 50 * time.Millisecond, Log: ctrl.Log}
	go func() { _ = writer.Start(ctx) }()

	key := createPage(t, newMessengerPage(ns, "acme"))
	waitPage(t, key, pageReady)

	recv.failing.Store(true)
	if _, err := emu.Publish(page, "messaging_referrals", graphtest.ReferralEvent{PageID: page, PSID: "61", Ref: "poster"}.Envelope()); err != nil {
		t.Fatal(err)
	}
	waitPage(t, key, all(
		hasCondition(messengerv1.ConditionReceiving, metav1.ConditionFalse, messengerv1.ReasonWebhookFailing),
		hasCondition(messengerv1.ConditionReady, metav1.ConditionFalse, messengerv1.ReasonWebhookFailing),
		hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionFalse, messengerv1.ReasonNotSubscribed)))
	waitEvent(t, ns, "Warning WebhookFailing")
	if v := failingSeconds(t, ns, "acme"); v <= 0 {
		t.Errorf("mmelink_page_webhook_failing_seconds = %v while failing", v)
	}
	kills := 0
	for _, k := range emu.KillSwitches() {
		if k.PageID == page && k.AppID == suiteAppID {
			kills++
		}
	}
	if kills != 1 {
		t.Fatalf("%d kill switches for the Page, want 1", kills)
	}
	consistently(t, time.Second, func() error {
		if _, ok := emu.Subscriptions(page)[suiteAppID]; ok {
			return fmt.Errorf("the app was subscribed again while the webhook server still refuses")
		}
		return nil
	})

	recv.failing.Store(false) // the store is back: Meta's next retry is answered 200
	p := waitPage(t, key, all(pageReady,
		hasCondition(messengerv1.ConditionReceiving, metav1.ConditionTrue, messengerv1.ReasonDeliveriesAnswered),
		hasCondition(messengerv1.ConditionSubscribed, metav1.ConditionTrue, messengerv1.ReasonSucceeded)))
	if p.Status.Webhook == nil || p.Status.Webhook.LastDeliveryTime == nil || p.Status.Webhook.RefusingSince != nil {
		t.Errorf("status.webhook = %+v", p.Status.Webhook)
	}
	if _, ok := emu.Subscriptions(page)[suiteAppID]; !ok {
		t.Fatal("the app is not subscribed again on Meta's side")
	}
	if e := waitEvent(t, ns, "Normal Resubscribed"); !strings.Contains(e, "kill switch") {
		t.Errorf("the event does not say why: %s", e)
	}
	if v := failingSeconds(t, ns, "acme"); v != 0 {
		t.Errorf("mmelink_page_webhook_failing_seconds = %v after recovery", v)
	}
	// Nothing was lost among what Meta retried: the delivery made before the kill switch was acknowledged.
	for _, d := range emu.WebhookDeliveries() {
		if d.PageID == page && !d.Acked {
			t.Errorf("delivery %d for the Page never acknowledged: %+v", d.ID, d.Attempts)
		}
	}
	checkNoPageToken(t, ns)
}

// failingSeconds reads mmelink_page_webhook_failing_seconds for a MessengerPage; 0 when absent.
func failingSeconds(t *testing.T, ns, name string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "mmelink_page_webhook_failing_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labels(m)["namespace"] == ns && labels(m)["name"] == name {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
