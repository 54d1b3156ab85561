package webhookserver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

const deliveries = "mmelink_webhook_deliveries_total"

// summerLink holds pageID/summer.
var summerLink = &messengerv1.MessengerLink{
	ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "summer"},
	Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: pageID}, Ref: "summer"},
	Status:     messengerv1.MessengerLinkStatus{Claim: messengerv1.ClaimKey(pageID, "summer")},
}

// request is one hostile (or friendly) request to /webhook.
type request struct {
	method string
	body   []byte
	// header is added to the request; a signature header must be set here explicitly.
	header http.Header
	// chunked hides the body's length, so that the size cap is enforced while reading.
	chunked bool
}

func signed(body []byte) request {
	return request{method: http.MethodPost, body: body, header: http.Header{delivery.SignatureHeader: {delivery.Sign(appSecret, body)}}}
}

func (rq request) do(h http.Handler) *httptest.ResponseRecorder {
	var rd io.Reader = bytes.NewReader(rq.body)
	if rq.chunked {
		rd = io.MultiReader(rd) // not a *bytes.Reader: httptest cannot know the length
	}
	req := httptest.NewRequest(rq.method, webhookserver.PathWebhook, rd)
	for k, v := range rq.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestHostileDeliveries documents the answer to each kind of bad request. Meta retries anything but a
// 200, so only what cannot be a genuine delivery gets a 4xx; every answer is counted by result.
func TestHostileDeliveries(t *testing.T) {
	valid := envelope(referral(pageID, "6543210987654321", "summer--738--store12"))
	deep := []byte(`{"object":"page","entry":[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`)
	manyEvents := envelope(strings.TrimSuffix(strings.Repeat(`{},`, 10_001), ","))
	atLimit := envelope(strings.TrimSuffix(strings.Repeat(referral(pageID, "6543210987654321", "summer")+",", 10_000), ","))
	oversize := append(envelope(referral(pageID, "1", "summer")), bytes.Repeat([]byte(" "), 4<<20)...)

	tests := []struct {
		name       string
		req        request
		wantCode   int
		wantResult string
		// wantWrite: the Writer is called (only for an attributed, verified delivery).
		wantWrite bool
	}{
		{"valid delivery with an attributed referral", signed(valid), 200, webhookserver.ResultOK, true},
		{"page delivery with untracked events only", signed(envelope(plainMessage(pageID))), 200, webhookserver.ResultOK, false},
		{"valid delivery for a ref no link claims", signed(envelope(referral(pageID, "1", "winter"))), 200, webhookserver.ResultOK, false},
		{"Meta's test delivery (message is a string): acknowledged, its event skipped",
			signed([]byte(`{"object":"page","entry":[{"messaging":[{"message":"TEST_MESSAGE"}]}]}`)), 200, webhookserver.ResultOK, false},
		{"an unreadable event beside an attributed referral", signed(envelope(`{"postback":"GET_STARTED"}`,
			referral(pageID, "6543210987654321", "summer"))), 200, webhookserver.ResultOK, true},
		{"non-page object is acknowledged and ignored", signed([]byte(`{"object":"instagram","entry":[{"id":"1","changes":[]}]}`)), 200, webhookserver.ResultIgnoredObject, false},

		{"signature by another secret", request{method: "POST", body: valid, header: http.Header{
			delivery.SignatureHeader: {delivery.Sign([]byte("not-the-secret"), valid)}}}, 401, webhookserver.ResultBadSignature, false},
		{"signature of another body", request{method: "POST", body: valid, header: http.Header{
			delivery.SignatureHeader: {delivery.Sign(appSecret, []byte(`{"object":"page"}`))}}}, 401, webhookserver.ResultBadSignature, false},
		{"missing signature", request{method: "POST", body: valid}, 401, webhookserver.ResultBadSignature, false},
		{"sha1 signature alone", request{method: "POST", body: valid, header: http.Header{
			"X-Hub-Signature": {"sha1=" + strings.Repeat("ab", 20)}}}, 401, webhookserver.ResultBadSignature, false},
		{"sha1 algorithm in the sha256 header", request{method: "POST", body: valid, header: http.Header{
			delivery.SignatureHeader: {"sha1=" + strings.Repeat("ab", 20)}}}, 401, webhookserver.ResultBadSignature, false},
		{"signature not hexadecimal", request{method: "POST", body: valid, header: http.Header{
			delivery.SignatureHeader: {"sha256=" + strings.Repeat("zz", 32)}}}, 401, webhookserver.ResultBadSignature, false},

		{"PUT", request{method: http.MethodPut, body: valid}, 405, webhookserver.ResultBadMethod, false},
		{"DELETE", request{method: http.MethodDelete}, 405, webhookserver.ResultBadMethod, false},
		{"PATCH", request{method: http.MethodPatch, body: valid}, 405, webhookserver.ResultBadMethod, false},
		{"OPTIONS", request{method: http.MethodOptions}, 405, webhookserver.ResultBadMethod, false},

		{"body over 4 MiB, length declared", signed(oversize), 413, webhookserver.ResultTooLarge, false},
		{"body over 4 MiB, chunked", request{method: "POST", body: oversize, chunked: true, header: signed(oversize).header}, 413, webhookserver.ResultTooLarge, false},

		// Signed but unreadable: Meta's all the same, acknowledged (a 400 would bring the same bytes back
		// for an hour, then Meta's kill switch), counted under malformed.
		{"empty body", signed(nil), 200, webhookserver.ResultMalformed, false},
		{"truncated JSON", signed(valid[:len(valid)/2]), 200, webhookserver.ResultMalformed, false},
		{"malformed JSON", signed([]byte(`{"object":"page",,"entry":[]}`)), 200, webhookserver.ResultMalformed, false},
		{"not an object", signed([]byte(`["page"]`)), 200, webhookserver.ResultMalformed, false},
		{"entry is a string", signed([]byte(`{"object":"page","entry":"1234567890"}`)), 200, webhookserver.ResultMalformed, false},
		{"messaging is an object", signed([]byte(`{"object":"page","entry":[{"id":"1","messaging":{"sender":{}}}]}`)), 200, webhookserver.ResultMalformed, false},
		{"no object", signed([]byte(`{"entry":[]}`)), 200, webhookserver.ResultMalformed, false},
		{"nested 100 levels deep", signed(deep), 200, webhookserver.ResultMalformed, false},
		{"10,000 events, the limit, all attributed", signed(atLimit), 200, webhookserver.ResultOK, true},
		{"10,001 events", signed(manyEvents), 200, webhookserver.ResultMalformed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, summerLink.DeepCopy())
			rec := tt.req.do(f.srv.Handler())

			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tt.wantCode, rec.Body.String())
			}
			if got := f.metric(t, deliveries, "result", tt.wantResult); got != 1 {
				t.Errorf("%s{result=%q} = %v, want 1", deliveries, tt.wantResult, got)
			}
			if got := f.metric(t, deliveries, "", ""); got != 1 {
				t.Errorf("%s summed over results = %v, want 1", deliveries, got)
			}
			if got := f.metric(t, "mmelink_webhook_delivery_duration_seconds", "result", tt.wantResult); got != 1 {
				t.Errorf("duration histogram for %q has %v samples, want 1", tt.wantResult, got)
			}
			if got := f.writer.callCount() > 0; got != tt.wantWrite {
				t.Errorf("Writer called: %v, want %v", got, tt.wantWrite)
			}
			if tt.wantCode == 405 && rec.Header().Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("Allow = %q, want %q", rec.Header().Get("Allow"), "GET, HEAD, POST")
			}
			if tt.wantCode == 413 && !strings.Contains(rec.Body.String(), "larger than 4194304 bytes") {
				t.Errorf("413 body %q does not state the limit", rec.Body.String())
			}
			if tt.wantCode == 200 && rec.Body.String() != webhookserver.EventReceived {
				t.Errorf("body = %q, want %q", rec.Body.String(), webhookserver.EventReceived)
			}
		})
	}
}

func TestMaxBodyBytesIsConfigurable(t *testing.T) {
	f := newFixture(t, func(o *webhookserver.Options) { o.MaxBodyBytes = 200 })
	small := envelope(plainMessage(pageID))
	large := envelope(plainMessage(pageID), plainMessage(pageID))
	if len(small) > 200 || len(large) <= 200 {
		t.Fatalf("fixture sizes %d and %d do not straddle the limit", len(small), len(large))
	}
	if rec := f.postSigned(small); rec.Code != http.StatusOK {
		t.Errorf("%d-byte body: status %d, want 200", len(small), rec.Code)
	}
	if rec := f.postSigned(large); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("%d-byte body: status %d, want 413", len(large), rec.Code)
	}
}

func TestEventMetrics(t *testing.T) {
	f := newFixture(t, nil, summerLink.DeepCopy())
	body := envelope(
		referral(pageID, "1", "summer"),
		postbackReferral(pageID, "2", "summer--738--store12"),
		referral(pageID, "3", "unknown"),
		plainMessage(pageID),
		plainMessage(pageID),
		`{"message":"TEST_MESSAGE"}`,
	)
	if rec := f.postSigned(body); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"mmelink_webhook_events_total", "kind", "referral", 2},
		{"mmelink_webhook_events_total", "kind", "postback_referral", 1},
		{"mmelink_webhook_events_total", "kind", webhookserver.KindUntracked, 2},
		{"mmelink_webhook_events_total", "kind", webhookserver.KindSkipped, 1},
		{"mmelink_webhook_unmatched_events_total", "kind", "referral", 1},
		{"mmelink_webhook_unmatched_events_total", "kind", "postback_referral", 0},
		{"mmelink_webhook_batch_events", "", "", 1},
	} {
		if got := f.metric(t, c.name, c.label, c.value); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, got, c.want)
		}
	}
	if n := len(f.writer.items()); n != 2 {
		t.Errorf("Writer got %d items, want the 2 attributed events", n)
	}
}

// TestUnavailable: whenever the delivery cannot be stored in time, Meta gets a 503 and delivers again.
func TestUnavailable(t *testing.T) {
	body := envelope(referral(pageID, "1", "summer"))
	const commitTimeout = 100 * time.Millisecond
	tests := []struct {
		name   string
		ready  func() bool
		writer *recordingWriter
	}{
		{"Writer returns ErrUnavailable", nil, &recordingWriter{err: fmt.Errorf("flush: %w", status.ErrUnavailable)}},
		{"Writer fails otherwise", nil, &recordingWriter{err: fmt.Errorf("conflict storm")}},
		{"Writer blocks past the commit timeout", nil, &recordingWriter{block: make(chan struct{})}},
		{"cache not synced", func() bool { return false }, &recordingWriter{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.writer.block != nil {
				defer close(tt.writer.block)
			}
			f := newFixture(t, func(o *webhookserver.Options) {
				o.Writer, o.Ready, o.CommitTimeout = tt.writer, tt.ready, commitTimeout
			}, summerLink.DeepCopy())

			start := time.Now()
			rec := f.postSigned(body)
			elapsed := time.Since(start)

			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503", rec.Code)
			}
			if got := f.metric(t, deliveries, "result", webhookserver.ResultUnavailable); got != 1 {
				t.Errorf("unavailable deliveries = %v, want 1", got)
			}
			// The answer never waits much past the deadline, whatever the Writer does.
			if elapsed > commitTimeout+250*time.Millisecond {
				t.Errorf("answered after %s, want within %s and a little", elapsed, commitTimeout)
			}
			if tt.writer.block != nil && elapsed < commitTimeout {
				t.Errorf("answered after %s, before the %s deadline", elapsed, commitTimeout)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	ready := true
	f := newFixture(t, func(o *webhookserver.Options) { o.Ready = func() bool { return ready } })
	get := func(path string) int {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{webhookserver.PathHealthz, 200},
		{webhookserver.PathReadyz, 200},
		{"/", 404},
		{"/webhook/", 404},
		{"/webhooks", 404},
		{"/metrics", 404},
	} {
		if got := get(c.path); got != c.want {
			t.Errorf("GET %s = %d, want %d", c.path, got, c.want)
		}
	}
	ready = false
	if got := get(webhookserver.PathReadyz); got != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz before the cache synced = %d, want 503", got)
	}
	if got := get(webhookserver.PathHealthz); got != http.StatusOK {
		t.Errorf("GET /healthz before the cache synced = %d, want 200", got)
	}
}

func TestNewRejectsIncompleteOptions(t *testing.T) {
	full := func() webhookserver.Options {
		return webhookserver.Options{AppSecret: appSecret, VerifyToken: verifyToken, Reader: fakeReader(t), Writer: &recordingWriter{}}
	}
	for name, edit := range map[string]func(*webhookserver.Options){
		"no app secret":            func(o *webhookserver.Options) { o.AppSecret = nil },
		"no verify token":          func(o *webhookserver.Options) { o.VerifyToken = []byte{} },
		"no reader":                func(o *webhookserver.Options) { o.Reader = nil },
		"no writer":                func(o *webhookserver.Options) { o.Writer = nil },
		"negative timeout":         func(o *webhookserver.Options) { o.CommitTimeout = -time.Second },
		"negative max connections": func(o *webhookserver.Options) { o.MaxConnections = -1 },
		"in-flight budget under the body limit": func(o *webhookserver.Options) {
			o.MaxBodyBytes, o.MaxBodyBytesInFlight = 8<<20, 4<<20
		},
	} {
		o := full()
		edit(&o)
		if _, err := webhookserver.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := webhookserver.New(full()); err != nil {
		t.Errorf("complete options: %v", err)
	}
	// Two servers on one registry would export each other's counts: a programming error, which
	// registration (MustRegister, as everywhere here) refuses at start-up.
	o := full()
	o.Registerer = newFixture(t, nil).reg
	defer func() {
		if recover() == nil {
			t.Error("a second Server on the same registry was accepted")
		}
	}()
	_, _ = webhookserver.New(o)
}
