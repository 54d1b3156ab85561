package metawebhook

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
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
)

const (
	secret = "app-secret-for-tests"
	page   = "1000000001"
	psid   = "24601"
)

// request builds the delivery of envelope as Deliver posts it, and returns its body and headers.
func request(t *testing.T, envelope any) ([]byte, http.Header) {
	t.Helper()
	req, err := NewDeliveryRequest(context.Background(), "http://127.0.0.1/webhook", secret, envelope)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, req.Header
}

func hmacHex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestOptinDeliveryIsSignedAndShaped(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body, h := request(t, OptinEvent{
		PageID: page, PSID: psid, Title: "Café ☕ deals", Payload: "p=1", Topic: "deals", Frequency: "WEEKLY",
		Status: StatusStop, Time: at,
	}.Envelope())

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
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var bodies [][]byte
	var headers []http.Header
	for _, envelope := range []any{
		ReferralEvent{PageID: page, PSID: psid, Ref: "summer--738--blue", Time: at}.Envelope(),
		ReferralEvent{PageID: page, PSID: psid, Ref: "flyer", Source: "MESSENGER_CODE", Time: at}.PostbackEnvelope(),
		PluginOptinEvent{PageID: page, PSID: psid, Ref: "plugin-ref", Time: at}.Envelope(),
		PluginOptinEvent{PageID: page, UserRef: "ur-1", Ref: "checkbox", Time: at}.Envelope(),
		[]byte(`{"object":"instagram","entry":[]}`),
	} {
		body, h := request(t, envelope)
		bodies, headers = append(bodies, body), append(headers, h)
	}
	parse := func(i int) delivery.Event {
		t.Helper()
		if err := delivery.VerifySignature([]byte(secret), bodies[i], headers[i].Get("X-Hub-Signature-256")); err != nil {
			t.Fatalf("delivery %d signature: %v", i, err)
		}
		d, err := delivery.Parse(bodies[i])
		if err != nil || len(d.Events) != 1 {
			t.Fatalf("delivery %d: %+v, %v (%s)", i, d, err, bodies[i])
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
	if !bytes.Contains(bodies[1], []byte(`"payload":"GET_STARTED"`)) {
		t.Errorf("postback without Get Started payload: %s", bodies[1])
	}
	if e := parse(2); e.Kind != delivery.KindOptIn || e.OptIn.Ref != "plugin-ref" || e.SenderID != psid {
		t.Errorf("plugin opt-in = %+v", e)
	}
	if e := parse(3); e.Kind != delivery.KindOptIn || e.UserRef != "ur-1" || e.SenderID != "" {
		t.Errorf("checkbox opt-in = %+v", e)
	}
	if bytes.Contains(bodies[3], []byte(`"sender"`)) {
		t.Errorf("checkbox opt-in has a sender: %s", bodies[3])
	}
	if string(bodies[4]) != `{"object":"instagram","entry":[]}` {
		t.Errorf("raw body altered: %s", bodies[4])
	}
}

// Deliver posts what NewDeliveryRequest builds and hands back the answer, its body already read.
func TestDeliver(t *testing.T) {
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if delivery.VerifySignature([]byte(secret), body, r.Header.Get(delivery.SignatureHeader)) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got <- body
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not stored")
	}))
	t.Cleanup(srv.Close)
	resp, err := Deliver(context.Background(), srv.URL, secret, []byte(`{"object":"page","entry":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || err != nil || string(answer) != "not stored" {
		t.Errorf("answer = %d %q, %v; want 503 %q", resp.StatusCode, answer, err, "not stored")
	}
	if b := <-got; string(b) != `{"object":"page","entry":[]}` {
		t.Errorf("posted body = %s", b)
	}
	if _, err := Deliver(context.Background(), "http://127.0.0.1:1/webhook", secret, []byte(`{}`)); err == nil {
		t.Error("Deliver to a closed port: no error")
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

// Deliveries are written as Meta writes them: slashes escaped and non-ASCII as \uXXXX, the same values.
func TestEncodeEnvelopeWritesLikeMeta(t *testing.T) {
	in := map[string]string{"referer_uri": "https://www.example.com/shop?x=1&y=<2>", "title": "Café"}
	got, err := EncodeEnvelope(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"referer_uri":"https:\/\/www.example.com\/shop?x=1&y=<2>","title":"Caf\u00e9"}`; string(got) != want {
		t.Errorf("EncodeEnvelope = %s, want %s", got, want)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["referer_uri"] != in["referer_uri"] || back["title"] != in["title"] {
		t.Errorf("round trip = %v, %v", back, err)
	}
}
