package webhookserver_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// These tests run the whole receiving path as in production: signed HTTP requests to a listening Server,
// attribution through the manager's cache, and the status Store writing to a real API server.

// instance is one webhook-server replica: its own Store and Server, on the shared cache.
type instance struct {
	url   string
	store *status.Store
	reg   *prometheus.Registry // the Store's metrics
	stop  func()
}

// startInstance starts a replica; flush sets the Store's FlushInterval (default 10ms: tests want speed).
func startInstance(t testing.TB, flush ...time.Duration) *instance {
	t.Helper()
	var o instanceOptions
	if len(flush) > 0 {
		o.flush = flush[0]
	}
	return startInstanceWith(t, o)
}

// instanceOptions tune startInstanceWith; the zero value is startInstance's replica.
type instanceOptions struct {
	flush time.Duration // the Store's FlushInterval; 10ms when 0
	// wrap, when set, wraps the transport of the Store's client: it sees every request the Store sends.
	wrap func(http.RoundTripper) http.RoundTripper
}

func startInstanceWith(t testing.TB, o instanceOptions) *instance {
	t.Helper()
	c, cache := startCluster(t)
	cfg := cluster.cfg
	if o.wrap != nil {
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(o.wrap)
	}
	// Reads through the cache, writes to the API server: what the manager's client does.
	cached, err := client.New(cfg, client.Options{Scheme: scheme.New(), Cache: &client.CacheOptions{Reader: cache}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	interval := 10 * time.Millisecond
	if o.flush > 0 {
		interval = o.flush
	}
	store := status.NewStore(cached, c, status.Options{FlushInterval: interval, Registerer: reg})
	srv, err := webhookserver.New(webhookserver.Options{
		AppSecret: appSecret, VerifyToken: verifyToken, Reader: cache, Writer: store,
		Registerer: prometheus.NewRegistry(), Logger: logr.Discard(), CommitTimeout: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	in := &instance{url: "http://" + ln.Addr().String() + webhookserver.PathWebhook, store: store, reg: reg}
	in.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		if err := store.Close(closeCtx); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	t.Cleanup(in.stop)
	return in
}

var httpClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}

// send POSTs a signed body and returns the status code (0 when the request itself failed).
func (in *instance) send(body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(appSecret, body))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sendUntilStored sends body as Meta does: again after every answer but 200, for up to a minute, and
// returns the last answer. A 503 means not acknowledged, and a slow machine may give one to a large
// delivery whose status write outlives the commit timeout; the counts must come out the same.
func (in *instance) sendUntilStored(body []byte) int {
	deadline := time.Now().Add(time.Minute)
	for {
		code := in.send(body)
		if code == http.StatusOK || code == http.StatusBadRequest || time.Now().After(deadline) {
			return code
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// e2eLink creates a MessengerLink of page with ref that holds its claim, and waits until the cache has it.
func e2eLink(t testing.TB, ns, name, page, ref string) client.ObjectKey {
	t.Helper()
	c, _ := startCluster(t)
	l := &messengerv1.MessengerLink{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: page}, Ref: ref},
	}
	if err := c.Create(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	holdClaim(t, l)
	return client.ObjectKeyFromObject(l)
}

func linkStats(t testing.TB, key client.ObjectKey) messengerv1.ReferralStats {
	t.Helper()
	c, _ := startCluster(t)
	l := &messengerv1.MessengerLink{}
	if err := c.Get(context.Background(), key, l); err != nil {
		t.Fatal(err)
	}
	if l.Status.Referrals == nil {
		return messengerv1.ReferralStats{}
	}
	return *l.Status.Referrals
}

// ev is a referral event from sender at a distinct timestamp n (so every n is a distinct event).
func ev(page, sender, ref string, n int, kind string) string {
	ts := 1_760_000_000_000 + int64(n)
	switch kind {
	case "postback":
		return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"postback":{"payload":"GET_STARTED","mid":"m_%d","referral":{"ref":%q,"source":"SHORTLINK","type":"OPEN_THREAD"}}}`, sender, page, ts, n, ref)
	case "ad":
		return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"message":{"mid":"m_%d","text":"hi","referral":{"ref":%q,"source":"ADS","type":"OPEN_THREAD","ad_id":"6045"}}}`, sender, page, ts, n, ref)
	case "plugin":
		return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"optin":{"ref":%q}}`, sender, page, ts, ref)
	default:
		return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"referral":{"ref":%q,"source":"SHORTLINK","type":"OPEN_THREAD"}}`, sender, page, ts, ref)
	}
}

func body(page string, events ...string) []byte {
	return []byte(`{"object":"page","entry":[{"id":"` + page + `","time":1760000000000,"messaging":[` + strings.Join(events, ",") + `]}]}`)
}

// A batch of 1,000 events of every kind lands in the right fields; delivered again, to the same server
// or to a restarted one, it counts once.
func TestBatchCountsOnceAcrossRedeliveryAndRestart(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	const page = "5001"
	a := e2eLink(t, ns, "a", page, "spring")
	b := e2eLink(t, ns, "b", page, "autumn")
	var events []string
	kinds := []string{"referral", "postback", "ad", "plugin"}
	for i := range 1000 {
		ref, kind := "spring--738--store"+fmt.Sprint(i%3), kinds[i%4]
		if i%2 == 1 {
			ref = "autumn"
		}
		events = append(events, ev(page, fmt.Sprintf("p%d", i%250), ref, i, kind))
	}
	batch := body(page, events...)

	first := startInstance(t)
	if code := first.send(batch); code != http.StatusOK {
		t.Fatalf("first delivery: %d", code)
	}
	want := map[client.ObjectKey]messengerv1.ReferralStats{}
	for _, key := range []client.ObjectKey{a, b} {
		want[key] = linkStats(t, key)
	}
	sa, sb := want[a], want[b]
	// spring gets the even events: referral (i%4==0) and ad (i%4==2), 250 each.
	if sa.Total != 500 || sa.ReturningConversations != 250 || sa.AdReferrals != 250 || sa.BySource["ADS"] != 250 {
		t.Errorf("spring: %+v", sa)
	}
	if n := sa.Fields; len(n) != 1 || n[0].Values["store0"]+n[0].Values["store1"]+n[0].Values["store2"] != 500 {
		t.Errorf("spring fields: %+v", n)
	}
	// autumn gets the odd ones: postback (i%4==1) and plugin opt-in (i%4==3), 250 each.
	if sb.Total != 250 || sb.NewConversations != 250 || sb.PluginOptIns != 250 {
		t.Errorf("autumn: %+v", sb)
	}
	if sa.UniquePeople < 120 || sa.UniquePeople > 130 { // 125 distinct people, estimated
		t.Errorf("spring uniquePeople = %d, want about 125", sa.UniquePeople)
	}

	if code := first.send(batch); code != http.StatusOK {
		t.Fatalf("redelivery: %d", code)
	}
	first.stop()
	restarted := startInstance(t)
	if code := restarted.send(batch); code != http.StatusOK {
		t.Fatalf("redelivery after restart: %d", code)
	}
	for key, w := range want {
		if got := linkStats(t, key); got.Total != w.Total || got.PluginOptIns != w.PluginOptIns {
			t.Errorf("%s after redeliveries: total %d plugin %d, want %d %d", key.Name, got.Total, got.PluginOptIns, w.Total, w.PluginOptIns)
		}
	}
}

// Two replicas receive deliveries for the same links at the same time: no increment is lost.
func TestTwoReplicasKeepExactTotals(t *testing.T) {
	c, _ := startCluster(t)
	ns := newNamespace(t, c)
	const page = "5002"
	keys := []client.ObjectKey{e2eLink(t, ns, "x", page, "x"), e2eLink(t, ns, "y", page, "y")}
	replicas := []*instance{startInstance(t), startInstance(t)}
	const deliveries = 100
	var wg sync.WaitGroup
	codes := make([]int, deliveries)
	for i := range deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []string
			for j := range 5 {
				evs = append(evs, ev(page, fmt.Sprintf("s%d", i), []string{"x", "y"}[j%2], i*10+j, "referral"))
			}
			codes[i] = replicas[i%2].send(body(page, evs...))
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, c)
		}
	}
	// Each delivery has 3 events for x and 2 for y.
	if got := linkStats(t, keys[0]).Total; got != 3*deliveries {
		t.Errorf("x total %d, want %d", got, 3*deliveries)
	}
	if got := linkStats(t, keys[1]).Total; got != 2*deliveries {
		t.Errorf("y total %d, want %d", got, 2*deliveries)
	}
}

// storeMetric sums a counter of the instance's Store whose label has the value.
func (in *instance) storeMetric(t testing.TB, name, label, value string) float64 {
	t.Helper()
	return counterValue(t, in.reg, name, label, value)
}
