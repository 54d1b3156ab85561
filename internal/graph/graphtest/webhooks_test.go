package graphtest

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// fastRetries stands for Meta's schedule in milliseconds: two retries at once, then waits that grow.
var fastRetries = RetryPolicy{Immediate: 2, First: 20 * time.Millisecond, Factor: 2, Max: 80 * time.Millisecond, GiveUpAfter: time.Minute}

// switchable answers 503 while failing is set, 200 otherwise, and counts posts.
type switchable struct {
	failing atomic.Bool
	posts   atomic.Int64
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.posts.Add(1)
	if s.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPublishReachesSubscribedAppsOnly(t *testing.T) {
	s := New(WithWebhookRetries(fastRetries))
	defer s.Close()
	ours, other, unsubscribed := newWebhook(t), newWebhook(t), newWebhook(t)
	s.AddApp(App{ID: "1", CallbackURL: ours.URL, Secret: secret})
	s.AddApp(App{ID: "2", CallbackURL: other.URL, Secret: secret})
	s.AddApp(App{ID: "3", CallbackURL: unsubscribed.URL, Secret: secret})
	s.Subscribe("100", "1", []string{"messaging_referrals"})
	s.Subscribe("100", "2", []string{"messages"}) // subscribed, but not for this field

	ids, err := s.Publish("100", "messaging_referrals", ReferralEvent{PageID: "100", PSID: "7", Ref: "x"}.Envelope())
	if err != nil || len(ids) != 1 {
		t.Fatalf("Publish = %v, %v; want one delivery", ids, err)
	}
	<-ours.got
	waitFor(t, "the delivery to be acknowledged", func() bool { return s.WebhookDeliveries()[0].Acked })
	for name, h := range map[string]*webhook{"subscribed for other fields": other, "not subscribed": unsubscribed} {
		h.mu.Lock()
		if n := len(h.bodies); n != 0 {
			t.Errorf("app %s got %d deliveries", name, n)
		}
		h.mu.Unlock()
	}
}

func TestFailedDeliveriesAreRetriedWithDecreasingFrequency(t *testing.T) {
	s := New(WithWebhookRetries(fastRetries))
	defer s.Close()
	hook := newWebhook(t, 503, 503, 503, 503, 503) // then 200
	s.AddApp(App{ID: "1", CallbackURL: hook.URL, Secret: secret})
	s.Subscribe("100", "1", []string{"messaging_referrals"})
	if _, err := s.Publish("100", "messaging_referrals", ReferralEvent{PageID: "100", PSID: "7", Ref: "x"}.Envelope()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery to be acknowledged", func() bool { return s.WebhookDeliveries()[0].Acked })
	att := s.WebhookDeliveries()[0].Attempts
	if len(att) != 6 {
		t.Fatalf("%d attempts, want 6 (five refusals, then 200)", len(att))
	}
	gaps := make([]time.Duration, len(att)-1)
	for i := range gaps {
		gaps[i] = att[i+1].Time.Sub(att[i].Time)
	}
	if gaps[0] > 15*time.Millisecond || gaps[1] > 15*time.Millisecond {
		t.Errorf("first retries not immediate: %v", gaps)
	}
	if gaps[2] < fastRetries.First || gaps[3] < 2*fastRetries.First || gaps[4] < fastRetries.Max {
		t.Errorf("later retries not spaced out: %v", gaps)
	}
	for i, b := range hook.bodies[1:] {
		if string(b) != string(hook.bodies[0]) {
			t.Errorf("retry %d has other bytes than the first attempt", i+1)
		}
	}
}

func TestResendSendsTheSameBytesAgain(t *testing.T) {
	s := New()
	defer s.Close()
	hook := newWebhook(t)
	s.AddApp(App{ID: "1", CallbackURL: hook.URL, Secret: secret})
	s.Subscribe("100", "1", []string{"messaging_optins"})
	ids, _ := s.Publish("100", "messaging_optins", OptinEvent{PageID: "100", PSID: "7", Title: "Deals"}.Envelope())
	first := <-hook.got
	dup, err := s.Resend(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if second := <-hook.got; string(second) != string(first) {
		t.Error("the duplicate differs from the original")
	}
	if d := s.WebhookDeliveries(); len(d) != 2 || !d[1].Duplicate || d[1].ID != dup {
		t.Errorf("deliveries = %+v", d)
	}
	if _, err := s.Resend(999); err == nil {
		t.Error("Resend of an unknown delivery did not fail")
	}
}

// Meta's kill switch: after continuous failure for the configured time the app is unsubscribed from the
// Page; later events no longer reach it, the retries of earlier ones still do, and it stays unsubscribed
// until someone subscribes it again.
func TestKillSwitch(t *testing.T) {
	s := New(WithWebhookRetries(fastRetries), WithKillSwitchAfter(300*time.Millisecond))
	defer s.Close()
	var hook switchable
	hook.failing.Store(true)
	srv := serveHandler(t, &hook)
	s.AddApp(App{ID: "1", CallbackURL: srv, Secret: secret})
	s.Subscribe("100", "1", []string{"messaging_referrals"})
	s.Subscribe("100", "2", []string{"messaging_referrals"}) // another app, without a callback here

	if _, err := s.Publish("100", "messaging_referrals", ReferralEvent{PageID: "100", PSID: "7", Ref: "x"}.Envelope()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the kill switch", func() bool { return len(s.KillSwitches()) == 1 })
	k := s.KillSwitches()[0]
	if k.PageID != "100" || k.AppID != "1" || k.Time.Sub(k.FailingSince) < 300*time.Millisecond {
		t.Errorf("kill switch = %+v", k)
	}
	subs := s.Subscriptions("100")
	if _, ok := subs["1"]; ok {
		t.Fatal("the failing app is still subscribed")
	}
	if _, ok := subs["2"]; !ok {
		t.Fatal("the kill switch removed another app")
	}
	if ids, _ := s.Publish("100", "messaging_referrals", ReferralEvent{PageID: "100", PSID: "8", Ref: "y"}.Envelope()); len(ids) != 0 {
		t.Errorf("a new event was delivered to the unsubscribed app: %v", ids)
	}
	hook.failing.Store(false)
	waitFor(t, "the retried delivery to be acknowledged", func() bool { return s.WebhookDeliveries()[0].Acked })
	if _, ok := s.Subscriptions("100")["1"]; ok {
		t.Error("the app came back by itself; Meta needs someone to subscribe it again")
	}
}

func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
