package webhookserver_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	webhookserver "github.com/mmelink/operator/webhook-server"
)

// countingReader counts List calls; listErr, when set, fails them.
type countingReader struct {
	client.Reader
	lists   atomic.Int64
	listErr error
}

func (r *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.lists.Add(1)
	if r.listErr != nil {
		return r.listErr
	}
	return r.Reader.List(ctx, list, opts...)
}

// TestResolveListsOncePerKey: a batch costs one indexed List per distinct key, however many events share
// it, and a second delivery asks again (the cache may have changed in between).
func TestResolveListsOncePerKey(t *testing.T) {
	reader := &countingReader{Reader: fakeReader(t, summerLink.DeepCopy())}
	f := newFixture(t, func(o *webhookserver.Options) { o.Reader = reader })

	var events []string
	for range 30 {
		events = append(events,
			referral(pageID, "1", "summer"),                   // key page/summer
			postbackReferral(pageID, "2", "summer--738--s12"), // same key
			referral(pageID, "3", "winter"),                   // page/winter, unmatched
			notificationOptIn(pageID, "4", "Deals", ""),       // topic page/Deals, unmatched
			plainMessage(pageID),                              // no lookup
		)
	}
	body := envelope(events...)
	for delivery := 1; delivery <= 2; delivery++ {
		if rec := f.postSigned(body); rec.Code != http.StatusOK {
			t.Fatalf("delivery %d: status %d: %s", delivery, rec.Code, rec.Body)
		}
		if got := reader.lists.Load(); got != int64(3*delivery) {
			t.Errorf("after %d deliveries: %d Lists, want 3 per delivery (one per distinct key)", delivery, got)
		}
	}
	if got := len(f.writer.items()); got != 2*60 {
		t.Errorf("Writer got %d items, want the 60 summer events of each delivery", got)
	}
	if got := f.metric(t, "mmelink_webhook_unmatched_events_total", "", ""); got != 2*60 {
		t.Errorf("unmatched = %v, want 60 per delivery", got)
	}
}

// TestResolveCacheError: a cache that cannot answer makes the delivery 503, so Meta retries it.
func TestResolveCacheError(t *testing.T) {
	reader := &countingReader{Reader: fakeReader(t), listErr: errors.New("informer not started")}
	f := newFixture(t, func(o *webhookserver.Options) { o.Reader = reader })
	rec := f.postSigned(envelope(referral(pageID, "1", "summer")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if f.writer.callCount() != 0 {
		t.Error("Writer called although attribution failed")
	}
	if got := f.metric(t, deliveries, "result", webhookserver.ResultUnavailable); got != 1 {
		t.Errorf("unavailable = %v, want 1", got)
	}
}
