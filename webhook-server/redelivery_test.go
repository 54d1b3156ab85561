package webhookserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/status"
	"github.com/mmelink/operator/internal/testenv"
)

// referralAt is a referral event at the given millisecond.
func referralAt(page, sender, ref string, ms int64) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":%q,"source":"SHORTLINK","type":"OPEN_THREAD"}}`, sender, page, ms, ref)
}

// Meta resends deliveries for an hour and more. A link that received 5,000 events, one a second, gets
// every delivery again: nothing is counted twice. The window covers more than an hour of them; the
// events older than it are answered 200 and shown as late, in the metric and in status, and counted
// nowhere else.
func TestEveryDeliveryResentAfterFiveThousandEvents(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns)
	key := e2eLink(t, ns, "busy", page, "busy")
	in := startInstance(t)
	const events, perPost = 5000, 10
	bodies := make([][]byte, 0, events/perPost)
	for d := range events / perPost {
		var evs []string
		for e := d * perPost; e < (d+1)*perPost; e++ {
			evs = append(evs, referralAt(page, fmt.Sprintf("p%d", e), "busy", 1_760_000_000_000+int64(e)*1000))
		}
		bodies = append(bodies, body(page, evs...))
	}
	sendAll := func() {
		var wg sync.WaitGroup
		work := make(chan []byte)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range work {
					resendUntilOK(t, in, b)
				}
			}()
		}
		for _, b := range bodies {
			work <- b
		}
		close(work)
		wg.Wait()
	}
	sendAll()
	first := linkStats(t, key)
	if first.Total != events {
		t.Fatalf("total %d after the first deliveries, want %d", first.Total, events)
	}
	if first.Window == nil || first.Window.CoveredSince == nil {
		t.Fatalf("window %+v: 5,000 events one second apart must have moved the window", first.Window)
	}
	if span := first.LastTime.Sub(first.Window.CoveredSince.Time); span.Hours() < 1 {
		t.Errorf("window covers %s of events, want at least an hour", span)
	}

	sendAll() // Meta resends everything
	again := linkStats(t, key)
	late := in.storeMetric(t, "mmelink_status_late_events_total", "kind", string(status.KindLink))
	dups := in.storeMetric(t, "mmelink_status_duplicate_events_total", "kind", string(status.KindLink))
	t.Logf("resent %d events: %v recognised, %v late; window covers since %s (%d events)", events, dups, late, again.Window.CoveredSince, again.Window.Events)
	if again.Total != events || again.ReturningConversations != events || again.BySource["SHORTLINK"] != events {
		t.Fatalf("after resending: total %d returning %d SHORTLINK %d, want %d each", again.Total, again.ReturningConversations, again.BySource["SHORTLINK"], events)
	}
	if int64(late) != again.Window.LateEvents || late+dups != events || late == 0 {
		t.Fatalf("late %v (status %d) + recognised %v, want late shown in both and adding up to %d", late, again.Window.LateEvents, dups, events)
	}
}

// One delivery of 10,000 events (Meta's batches stay far below; the receiver accepts up to 10,000),
// delivered again: counted once.
func TestTenThousandEventDeliveryResent(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns)
	key := e2eLink(t, ns, "huge", page, "huge")
	in := startInstance(t)
	evs := make([]string, 10_000)
	for e := range evs {
		evs[e] = referralAt(page, fmt.Sprintf("p%d", e), "huge", 1_760_000_000_000+int64(e))
	}
	b := body(page, evs...)
	for range 2 { // the delivery and Meta's redelivery of it
		if code := in.sendUntilStored(b); code != http.StatusOK {
			t.Fatalf("delivery answered %d", code)
		}
	}
	if st := linkStats(t, key); st.Total != 10_000 || st.Window == nil {
		t.Fatalf("total %d window %+v, want 10,000 counted once", st.Total, st.Window)
	} else {
		t.Logf("window: %d events, %d late", st.Window.Events, st.Window.LateEvents)
	}
}

// The caches of both binaries (index.CacheOptions) drop the ledger, which only the status writer reads,
// straight from the API server: memory and start-up do not grow with the events counted
// (BenchmarkStartup in webhook-server/cmd measures them).
func TestCacheDropsTheLedger(t *testing.T) {
	c, cache := startCluster(t)
	ns := newNamespace(t, c)
	page := testenv.PageID(ns)
	key := e2eLink(t, ns, "cached", page, "cached")
	in := startInstance(t)
	if code := in.send(body(page, referralAt(page, "p1", "cached", 1_760_000_000_000))); code != http.StatusOK {
		t.Fatalf("delivery answered %d", code)
	}
	st := linkStats(t, key)
	if st.Ledger == nil || st.Ledger.Window == "" {
		t.Fatalf("the API server holds no ledger: %+v", st.Ledger)
	}
	window := st.Ledger.Window
	eventually(t, 10*time.Second, func() error {
		var l messengerv1.MessengerLink
		if err := cache.Get(context.Background(), key, &l); err != nil {
			return err
		}
		switch r := l.Status.Referrals; {
		case r == nil || r.Total != 1:
			return fmt.Errorf("cache not updated yet: %+v", r)
		case r.Ledger != nil:
			return fmt.Errorf("the cache holds the ledger (%d bytes of window)", len(r.Ledger.Window))
		}
		return nil
	})

	// Not even decoded: the caches read through a client of their own that leaves ledgers out of lists
	// and watches (index.WithoutLedgers), while the status writer's read of one object gets it.
	opts, err := index.CacheOptions(cluster.cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(hc *http.Client, path string) string {
		t.Helper()
		resp, err := hc.Get(strings.TrimSuffix(cluster.cfg.Host, "/") + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
		}
		return string(b)
	}
	links := "/apis/messenger.mmelink.io/v1alpha1/namespaces/" + ns + "/messengerlinks"
	for path, wantLedger := range map[string]bool{
		links:                                  false, // the reflector's list
		links + "?watch=true&timeoutSeconds=1": false, // and its watch
		links + "/cached":                      true,  // the status writer's read
	} {
		got := get(opts.HTTPClient, path)
		if !strings.Contains(got, `"total":1`) {
			t.Errorf("GET %s through the cache's client lost more than the ledger: %s", path, got)
		}
		if has := strings.Contains(got, window); has != wantLedger {
			t.Errorf("GET %s through the cache's client: ledger present %v, want %v", path, has, wantLedger)
		}
	}
}
