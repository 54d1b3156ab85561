package webhookserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	webhookserver "github.com/mmelink/operator/webhook-server"
)

// TestHandshake: Meta's subscription check. Only the configured token with mode subscribe gets the
// challenge back; everything else is 403 and reveals nothing.
func TestHandshake(t *testing.T) {
	const challenge = "1158201444"
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		query      url.Values
		wantCode   int
		wantBody   string // checked for 200 only
		wantResult string
	}{
		{"right token", q("hub.mode", "subscribe", "hub.verify_token", string(verifyToken), "hub.challenge", challenge),
			200, challenge, webhookserver.HandshakeOK},
		{"challenge echoed byte for byte", q("hub.mode", "subscribe", "hub.verify_token", string(verifyToken), "hub.challenge", "<b>x y</b>&"),
			200, "<b>x y</b>&", webhookserver.HandshakeOK},
		{"wrong token", q("hub.mode", "subscribe", "hub.verify_token", "guess", "hub.challenge", challenge),
			403, "", webhookserver.HandshakeForbidden},
		{"token prefix", q("hub.mode", "subscribe", "hub.verify_token", string(verifyToken[:5]), "hub.challenge", challenge),
			403, "", webhookserver.HandshakeForbidden},
		{"wrong mode", q("hub.mode", "unsubscribe", "hub.verify_token", string(verifyToken), "hub.challenge", challenge),
			403, "", webhookserver.HandshakeForbidden},
		{"missing mode", q("hub.verify_token", string(verifyToken), "hub.challenge", challenge),
			403, "", webhookserver.HandshakeForbidden},
		{"missing token", q("hub.mode", "subscribe", "hub.challenge", challenge),
			403, "", webhookserver.HandshakeForbidden},
		{"no parameters", q(), 403, "", webhookserver.HandshakeForbidden},
		{"missing challenge", q("hub.mode", "subscribe", "hub.verify_token", string(verifyToken)),
			400, "", webhookserver.HandshakeInvalid},
		{"challenge over 1 KiB", q("hub.mode", "subscribe", "hub.verify_token", string(verifyToken), "hub.challenge", strings.Repeat("9", webhookserver.MaxChallengeBytes+1)),
			400, "", webhookserver.HandshakeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := httptest.NewRecorder()
			// Meta's request as its Getting Started page shows it: the parameters in that order, unencoded.
			f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, webhookserver.PathWebhook+"?"+metaOrder(tt.query), nil))

			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if tt.wantCode == 200 {
				if rec.Body.String() != tt.wantBody {
					t.Errorf("body = %q, want exactly %q", rec.Body.String(), tt.wantBody)
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
				if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
					t.Error("challenge echoed without X-Content-Type-Options: nosniff")
				}
			}
			if strings.Contains(rec.Body.String(), string(verifyToken)) {
				t.Error("the answer contains the verify token")
			}
			if got := f.metric(t, "mmelink_webhook_handshakes_total", "result", tt.wantResult); got != 1 {
				t.Errorf("handshakes{result=%q} = %v, want 1", tt.wantResult, got)
			}
			if got := f.metric(t, deliveries, "", ""); got != 0 {
				t.Errorf("a handshake was counted as a delivery")
			}
		})
	}
}

// metaOrder writes q as Meta does: hub.mode, hub.challenge, hub.verify_token, escaped only where a value
// needs it.
func metaOrder(q url.Values) string {
	var parts []string
	for _, k := range []string{"hub.mode", "hub.challenge", "hub.verify_token"} {
		if v, ok := q[k]; ok {
			parts = append(parts, k+"="+url.QueryEscape(v[0]))
		}
	}
	return strings.Join(parts, "&")
}

// TestHandshakeHEAD: HEAD is GET without a body (RFC 9110), so a HEAD of the handshake URL gets the GET's
// status and headers and no body; it is no delivery.
func TestHandshakeHEAD(t *testing.T) {
	for _, c := range []struct {
		token    string
		wantCode int
	}{{string(verifyToken), http.StatusOK}, {"guess", http.StatusForbidden}} {
		f := newFixture(t, nil)
		srv := httptest.NewServer(f.srv.Handler())
		resp, err := http.Head(srv.URL + webhookserver.PathWebhook + "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=" + url.QueryEscape(c.token))
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.wantCode {
			t.Errorf("HEAD with token %q: status %d, want %d", c.token, resp.StatusCode, c.wantCode)
		}
		if got := f.metric(t, deliveries, "", ""); got != 0 {
			t.Errorf("a HEAD was counted as a delivery")
		}
	}
}
