package webhookserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mmelink/operator/internal/delivery"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// FuzzHandler sends random bodies and signature headers through the handler. It must never panic and
// must answer with one of the documented codes, each counted once. When sign is true the body is signed
// correctly, so that the parser and the resolver see the fuzzed bytes too.
func FuzzHandler(f *testing.F) {
	seeds := [][]byte{
		envelope(referral(pageID, "1", "summer--738--store12")),
		envelope(notificationOptIn(pageID, "4", "Weekly deals", "Weekly deals"), pluginOptIn(pageID, "2", "")),
		envelope(postbackReferral(pageID, "1", "summer"), plainMessage(pageID)),
		[]byte(`{"object":"instagram","entry":[]}`),
		[]byte(`{"object":"page","entry":[{"id":1,"standby":[{"referral":{"ref":7}}]}]}`),
		[]byte(`{"object":"page","entry":[[[[`),
		nil,
	}
	for _, s := range seeds {
		f.Add(s, "", true)
		f.Add(s, delivery.Sign([]byte("other"), s), false)
	}
	f.Add([]byte(`{}`), "sha256="+strings.Repeat("0", 64), false)
	f.Add([]byte(`{}`), "sha1=abc", false)

	fx := newFixture(f, func(o *webhookserver.Options) { o.MaxBodyBytes = 64 << 10 }, summerLink.DeepCopy())
	documented := map[int]bool{200: true, 400: true, 401: true, 413: true, 503: true}
	var n float64
	f.Fuzz(func(t *testing.T, body []byte, sig string, sign bool) {
		if sign {
			sig = delivery.Sign(appSecret, body)
		}
		rq := request{method: http.MethodPost, body: body, header: http.Header{delivery.SignatureHeader: {sig}}}
		rec := rq.do(fx.srv.Handler())
		if !documented[rec.Code] {
			t.Fatalf("status %d is not a documented answer (body %q)", rec.Code, rec.Body)
		}
		if !sign && rec.Code == http.StatusOK && delivery.VerifySignature(appSecret, body, sig) != nil {
			t.Fatalf("an unsigned body was accepted")
		}
		n++
		if got := fx.metric(t, deliveries, "", ""); got != n {
			t.Fatalf("deliveries counted %v after %v requests", got, n)
		}
	})
}
