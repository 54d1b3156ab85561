package graphtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
)

const secret = "app-secret-for-tests"

// webhook records deliveries and answers status.
type webhook struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  []int // answers in order; 200 once exhausted
	got     chan []byte
}

func newWebhook(t *testing.T, status ...int) *webhook {
	w := &webhook{status: status, got: make(chan []byte, 16)}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, body)
		w.headers = append(w.headers, r.Header.Clone())
		code := http.StatusOK
		if len(w.status) > 0 {
			code, w.status = w.status[0], w.status[1:]
		}
		w.mu.Unlock()
		rw.WriteHeader(code)
		if code == http.StatusOK {
			w.got <- body
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func hmacHex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestOptinDeliveryIsSignedAndShaped(t *testing.T) {
	wh := newWebhook(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	resp, err := Optin(context.Background(), wh.URL, secret, OptinEvent{
		PageID: page, PSID: psid, Title: "Café ☕ deals", Payload: "p=1", Topic: "deals", Frequency: "WEEKLY",
		Status: StatusStop, Time: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, h := wh.bodies[0], wh.headers[0]

	if got, want := h.Get("X-Hub-Signature-256"), "sha256="+hmacHex(secret, body); got != want {
		t.Errorf("X-Hub-Signature-256 = %q, want %q", got, want)
	}
	if err := delivery.VerifySignature([]byte(secret), body, h.Get("X-Hub-Signature-256")); err != nil {
		t.Errorf("delivery.VerifySignature: %v", err)
	}
	if !strings.HasPrefix(h.Get("X-Hub-Signature"), "sha1=") {
		t.Errorf("legacy X-Hub-Signature = %q", h.Get("X-Hub-Signature"))
	}
	// Meta escapes non-ASCII before signing.
	if bytes.ContainsAny(body, "é☕") || !bytes.Contains(body, []byte(`Caf\u00e9 \u2615 deals`)) {
		t.Errorf("non-ASCII not escaped: %s", body)
	}

	var raw struct {
		Object string `json:"object"`
		Entry  []struct {
			ID        any `json:"id"`
			Time      any `json:"time"`
			Messaging []struct {
				Sender    map[string]any `json:"sender"`
				Recipient map[string]any `json:"recipient"`
				Timestamp any            `json:"timestamp"`
				Optin     map[string]any `json:"optin"`
			} `json:"messaging"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	ms := float64(at.UnixMilli())
	if raw.Object != "page" || len(raw.Entry) != 1 || raw.Entry[0].ID != page || raw.Entry[0].Time != ms {
		t.Fatalf("envelope = %s", body)
	}
	ev := raw.Entry[0].Messaging[0]
	if ev.Sender["id"] != psid || ev.Recipient["id"] != page || ev.Timestamp != ms {
		t.Errorf("event = %+v", ev)
	}
	want := map[string]any{
		"type": "notification_messages", "title": "Café ☕ deals", "payload": "p=1",
		"notification_messages_token": NotificationToken(page, psid, "Café ☕ deals"),
		"notification_messages_topic": "deals", "notification_messages_frequency": "WEEKLY",
		"notification_messages_timezone": "UTC", "user_token_status": "NOT_REFRESHED",
		"notification_messages_status": "STOP_NOTIFICATIONS",
		"token_expiry_timestamp":       float64(at.Add(180 * 24 * time.Hour).UnixMilli()),
	}
	for k, v := range want {
		if ev.Optin[k] != v {
			t.Errorf("optin[%q] = %v, want %v", k, ev.Optin[k], v)
		}
	}

	// The operator's own parser reads it as a stop of a recurring-notification opt-in.
	d, err := delivery.Parse(body)
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("delivery.Parse = %+v, %v", d, err)
	}
	e := d.Events[0]
	if e.Kind != delivery.KindNotificationOptIn || e.PageID != page || e.SenderID != psid ||
		e.OptIn.Token != NotificationToken(page, psid, "Café ☕ deals") || e.OptIn.Status != delivery.StatusStop || !e.Time.Equal(at) {
		t.Errorf("parsed event = %+v", e)
	}
}

func TestReferralDeliveries(t *testing.T) {
	wh := newWebhook(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	send := []func() (*http.Response, error){
		func() (*http.Response, error) {
			return Referral(ctx, wh.URL, secret, ReferralEvent{PageID: page, PSID: psid, Ref: "summer--738--blue", Time: at})
		},
		func() (*http.Response, error) {
			return PostbackReferral(ctx, wh.URL, secret, ReferralEvent{PageID: page, PSID: psid, Ref: "flyer", Source: "MESSENGER_CODE", Time: at})
		},
		func() (*http.Response, error) {
			return PluginOptin(ctx, wh.URL, secret, PluginOptinEvent{PageID: page, PSID: psid, Ref: "plugin-ref", Time: at})
		},
		func() (*http.Response, error) {
			return PluginOptin(ctx, wh.URL, secret, PluginOptinEvent{PageID: page, UserRef: "ur-1", Ref: "checkbox", Time: at})
		},
		func() (*http.Response, error) {
			return Deliver(ctx, wh.URL, secret, []byte(`{"object":"instagram","entry":[]}`))
		},
	}
	for i, f := range send {
		resp, err := f()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("delivery %d: %v", i, err)
		}
		_ = resp.Body.Close()
	}
	parse := func(i int) delivery.Event {
		t.Helper()
		if err := delivery.VerifySignature([]byte(secret), wh.bodies[i], wh.headers[i].Get("X-Hub-Signature-256")); err != nil {
			t.Fatalf("delivery %d signature: %v", i, err)
		}
		d, err := delivery.Parse(wh.bodies[i])
		if err != nil || len(d.Events) != 1 {
			t.Fatalf("delivery %d: %+v, %v (%s)", i, d, err, wh.bodies[i])
		}
		return d.Events[0]
	}
	if e := parse(0); e.Kind != delivery.KindReferral || e.Referral.Ref != "summer--738--blue" ||
		e.Referral.Source != "SHORTLINK" || e.Referral.Type != "OPEN_THREAD" || e.SenderID != psid {
		t.Errorf("referral = %+v", e)
	}
	if e := parse(1); e.Kind != delivery.KindPostbackReferral || e.Referral.Ref != "flyer" ||
		e.Referral.Source != "MESSENGER_CODE" || !strings.HasPrefix(e.MID, "m_") {
		t.Errorf("postback referral = %+v", e)
	}
	if !bytes.Contains(wh.bodies[1], []byte(`"payload":"GET_STARTED"`)) {
		t.Errorf("postback without Get Started payload: %s", wh.bodies[1])
	}
	if e := parse(2); e.Kind != delivery.KindOptIn || e.OptIn.Ref != "plugin-ref" || e.SenderID != psid {
		t.Errorf("plugin opt-in = %+v", e)
	}
	if e := parse(3); e.Kind != delivery.KindOptIn || e.UserRef != "ur-1" || e.SenderID != "" {
		t.Errorf("checkbox opt-in = %+v", e)
	}
	if bytes.Contains(wh.bodies[3], []byte(`"sender"`)) {
		t.Errorf("checkbox opt-in has a sender: %s", wh.bodies[3])
	}
	if string(wh.bodies[4]) != `{"object":"instagram","entry":[]}` {
		t.Errorf("raw body altered: %s", wh.bodies[4])
	}
}

func TestAutoConfirm(t *testing.T) {
	wh := newWebhook(t, http.StatusServiceUnavailable) // first attempt fails: the emulator retries
	s, _ := newServer(t)
	s.AutoConfirm(wh.URL, secret, 0)
	r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if r.status != 200 {
		t.Fatalf("opt-in request: %s", r.raw)
	}
	var body []byte
	select {
	case body = <-wh.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no opt-in delivered")
	}
	d, err := delivery.Parse(body)
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("parse: %v", err)
	}
	e := d.Events[0]
	if e.Kind != delivery.KindNotificationOptIn || e.SenderID != psid || e.OptIn.Title != "Weekly deals" ||
		e.OptIn.Payload != "p" || e.OptIn.Timezone != "Europe/Paris" || e.OptIn.Token != NotificationToken(page, psid, "Weekly deals") {
		t.Errorf("auto opt-in = %+v", e)
	}
	got := waitDeliveries(t, s, 1)
	if len(got) != 1 || got[0].Status != 200 || got[0].Attempts != 2 || got[0].Err != "" {
		t.Errorf("Deliveries = %+v, want one success after 2 attempts", got)
	}

	// A failed request triggers nothing.
	wh2 := newWebhook(t)
	s2, _ := newServer(t)
	s2.AutoConfirm(wh2.URL, secret, 0)
	do(t, s2, http.MethodPost, messages, "wrong", optinBody(nil))
	s2.Close()
	if len(s2.Deliveries()) != 0 || len(wh2.bodies) != 0 {
		t.Errorf("a failed request was confirmed: %+v", s2.Deliveries())
	}
}

// waitDeliveries polls until the emulator has recorded n automatic opt-ins: the webhook sees the body
// before the emulator sees the answer.
func waitDeliveries(t *testing.T, s *Server, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.Deliveries()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsPendingConfirmations(t *testing.T) {
	wh := newWebhook(t)
	s, _ := newServer(t)
	s.AutoConfirm(wh.URL, secret, time.Hour)
	do(t, s, http.MethodPost, messages, token, optinBody(nil))
	start := time.Now()
	s.Close()
	if time.Since(start) > time.Second {
		t.Errorf("Close waited %v for a pending confirmation", time.Since(start))
	}
	if got := s.Deliveries(); len(got) != 1 || got[0].Attempts != 0 || got[0].Err == "" {
		t.Errorf("Deliveries = %+v, want one abandoned", got)
	}
}

func TestNotificationToken(t *testing.T) {
	a := NotificationToken(page, psid, "x")
	if a != NotificationToken(page, psid, "x") || len(a) != 19 || strings.Trim(a, "0123456789") != "" {
		t.Errorf("token %q is not a stable 19-digit number", a)
	}
	if a == NotificationToken(page, psid, "y") || a == NotificationToken(page, "1", "x") {
		t.Error("tokens collide across titles or people")
	}
}

func TestEscapeNonASCII(t *testing.T) {
	in := []byte(`{"a":"é𝄞<"}`)
	got := EscapeNonASCII(in)
	if string(got) != `{"a":"\u00e9\ud834\udd1e<"}` {
		t.Errorf("EscapeNonASCII = %s", got)
	}
	var v map[string]string
	if err := json.Unmarshal(got, &v); err != nil || v["a"] != "é𝄞<" {
		t.Errorf("round trip = %v, %v", v, err)
	}
}
