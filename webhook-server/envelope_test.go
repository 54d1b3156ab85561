package webhookserver_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestMetaEnvelopes: what Meta's POSTs look like around the events, and the headers they come with. Each
// case is one request; the answer, its result label and the events handed to the Writer are checked.
func TestMetaEnvelopes(t *testing.T) {
	cafe := &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cafe"},
		Spec:       messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: pageID}, Topic: "Café news"},
	}
	cafe.Status.Claim = cafe.PageTopicKey()
	summer2 := summerLink.DeepCopy()
	summer2.Name, summer2.Spec.Page.ID = "summer-2", "2222222222"
	summer2.Status.Claim = summer2.PageRefKey()

	ref := func(page, ts string) string {
		return `{"sender":{"id":"6543210987654321"},"recipient":{"id":"` + page + `"},` + ts +
			`"referral":{"ref":"summer","source":"SHORTLINK","type":"OPEN_THREAD"}}`
	}
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	sha1Of := func(b []byte) string {
		m := hmac.New(sha1.New, appSecret)
		m.Write(b)
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}
	// escaped is a topic opt-in as Meta signs it: non-ASCII as \uXXXX (lower-case hex), "/" as "\/".
	escaped := []byte(`{"object":"page","entry":[{"id":"` + pageID + `","time":1458692752478,"messaging":[{"sender":{"id":"1"},` +
		`"recipient":{"id":"` + pageID + `"},"timestamp":1458692752478,"optin":{"type":"notification_messages",` +
		`"notification_messages_token":"tok","title":"Caf\u00e9 news","payload":"https:\/\/shop.acme.example\/caf\u00e9"}}]}]}`)
	unescaped := bytes.ReplaceAll(bytes.ReplaceAll(escaped, []byte(`\u00e9`), []byte("é")), []byte(`\/`), []byte("/"))

	type req struct {
		body   []byte
		header http.Header // set on top of Content-Type: application/json and a valid signature
		noSig  bool        // leave out the valid X-Hub-Signature-256
	}
	tests := []struct {
		name       string
		req        req
		wantCode   int
		wantResult string
		wantTimes  []time.Time // times of the attributed events, in body order
		wantTarget []string    // their targets' names
	}{
		{"several entries, several events each, standby arrays", req{body: []byte(`{"object":"page","entry":[
			{"id":"` + pageID + `","time":1458692752478,"messaging":[` + ref(pageID, `"timestamp":1458692752001,`) + `,` + ref(pageID, `"timestamp":1458692752002,`) + `],
			 "standby":[` + ref(pageID, `"timestamp":1458692752003,`) + `]},
			{"id":"2222222222","time":1458692752478,"standby":[` + ref("2222222222", `"timestamp":1458692752004,`) + `,` + ref("2222222222", `"timestamp":1458692752005,`) + `]}]}`)},
			200, webhookserver.ResultOK, []time.Time{at(1458692752001), at(1458692752002), at(1458692752003), at(1458692752004), at(1458692752005)},
			[]string{"summer", "summer", "summer", "summer-2", "summer-2"}},
		{"timestamps as numbers and strings, in ms and in seconds; none: entry.time", req{body: []byte(`{"object":"page","entry":[
			{"id":"` + pageID + `","time":"1458692752999","messaging":[` + ref(pageID, `"timestamp":1458692752478,`) + `,` + ref(pageID, `"timestamp":"1458692752479",`) + `,` +
			ref(pageID, `"timestamp":1458692752,`) + `,` + ref(pageID, `"timestamp":"1458692753",`) + `,` + ref(pageID, ``) + `]}]}`)},
			200, webhookserver.ResultOK, []time.Time{at(1458692752478), at(1458692752479), at(1458692752000), at(1458692753000), at(1458692752999)},
			[]string{"summer", "summer", "summer", "summer", "summer"}},
		{"unknown fields everywhere", req{body: []byte(`{"object":"page","hop_context":[{"app_id":"1"}],"entry":[{"id":"` + pageID +
			`","time":1458692752478,"new_field":{"x":[1]},"messaging":[{"sender":{"id":"1","new":true},"recipient":{"id":"` + pageID +
			`"},"timestamp":1458692752478,"referral":{"ref":"summer","source":"SHORTLINK","type":"OPEN_THREAD","new":{"y":2}},"new_event_field":"z"}]}]}`)},
			200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
		{"object other than page: acknowledged, nothing read", req{body: []byte(`{"object":"instagram","entry":[{"id":"17841400000000000","time":1458692752478,` +
			`"messaging":[` + ref(pageID, `"timestamp":1458692752478,`) + `]}]}`)}, 200, webhookserver.ResultIgnoredObject, nil, nil},
		{"a Page's feed changes: acknowledged, no events", req{body: []byte(`{"object":"page","entry":[{"id":"` + pageID +
			`","time":1458692752478,"changes":[{"field":"feed","value":{"item":"status","verb":"add"}}]}]}`)}, 200, webhookserver.ResultOK, nil, nil},
		{"unicode escaped as Meta signs it: the signature covers the raw bytes", req{body: escaped},
			200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"cafe"}},
		{"the same body signed as decoded text: not Meta's signature", req{body: escaped, noSig: true,
			header: http.Header{delivery.SignatureHeader: {delivery.Sign(appSecret, unescaped)}}}, 401, webhookserver.ResultBadSignature, nil, nil},
		{"a newline and spaces after the JSON", req{body: append(envelope(ref(pageID, `"timestamp":1458692752478,`)), "\r\n  \n"...)},
			200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
		{"Content-Type with a charset", req{body: envelope(ref(pageID, `"timestamp":1458692752478,`)),
			header: http.Header{"Content-Type": {"application/json; charset=UTF-8"}}}, 200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
		{"no Content-Type at all", req{body: envelope(ref(pageID, `"timestamp":1458692752478,`)),
			header: http.Header{"Content-Type": nil}}, 200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
		{"X-Hub-Signature (sha1) beside X-Hub-Signature-256: the sha256 one decides", req{body: envelope(ref(pageID, `"timestamp":1458692752478,`)),
			header: http.Header{"X-Hub-Signature": {"sha1=" + strings.Repeat("0", 40)}}}, 200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
		{"a correct X-Hub-Signature (sha1) alone is refused", req{body: envelope(ref(pageID, `"timestamp":1458692752478,`)), noSig: true,
			header: http.Header{"X-Hub-Signature": {sha1Of(envelope(ref(pageID, `"timestamp":1458692752478,`)))}}}, 401, webhookserver.ResultBadSignature, nil, nil},
		{"upper-case hex digits: the same MAC", req{body: envelope(ref(pageID, `"timestamp":1458692752478,`)), noSig: true,
			header: http.Header{delivery.SignatureHeader: {"sha256=" + strings.ToUpper(strings.TrimPrefix(
				delivery.Sign(appSecret, envelope(ref(pageID, `"timestamp":1458692752478,`))), "sha256="))}}},
			200, webhookserver.ResultOK, []time.Time{at(1458692752478)}, []string{"summer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, summerLink.DeepCopy(), summer2, cafe)
			r := httptest.NewRequest(http.MethodPost, webhookserver.PathWebhook, bytes.NewReader(tt.req.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("User-Agent", "facebookexternalua")
			if !tt.req.noSig {
				r.Header.Set(delivery.SignatureHeader, delivery.Sign(appSecret, tt.req.body))
			}
			for k, v := range tt.req.header {
				if v == nil {
					r.Header.Del(k)
					continue
				}
				r.Header[k] = v
			}
			rec := httptest.NewRecorder()
			f.srv.Handler().ServeHTTP(rec, r)

			if rec.Code != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.wantCode)
			}
			if got := f.metric(t, deliveries, "result", tt.wantResult); got != 1 {
				t.Errorf("%s{result=%q} = %v, want 1", deliveries, tt.wantResult, got)
			}
			items := f.writer.items()
			if len(items) != len(tt.wantTimes) {
				t.Fatalf("Writer got %d events, want %d", len(items), len(tt.wantTimes))
			}
			for i, it := range items {
				if !it.Event.Time.Equal(tt.wantTimes[i]) || it.Target.Name != tt.wantTarget[i] {
					t.Errorf("event %d: time %v for %s, want %v for %s", i, it.Event.Time, it.Target.Name, tt.wantTimes[i], tt.wantTarget[i])
				}
			}
		})
	}
}
