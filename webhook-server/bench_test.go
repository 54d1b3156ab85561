package webhookserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The benchmarks measure deliveries per second through a real loopback HTTP server, next to a bare
// net/http handler (read the body, answer 200) served the same way. Loopback rather than
// httptest.NewRecorder: Meta's deliveries arrive over TCP, and what matters is how much of the cost of
// answering one our work adds. Against a recorder the bare handler does next to nothing, so the ratio
// would compare our work with zero rather than with serving a request at all. BenchmarkHandler gives the
// in-process cost of the handler alone, for comparison.
//
// Attribution reads memReader: the operator's index (the extractors of index.Setup) served from memory,
// as the informer cache serves it, so that the numbers are those of the HTTP path and not of envtest or of
// the fake client (which re-encodes every object of the kind to JSON on each List).

// BenchmarkDelivery: verify, parse, resolve and a no-op Writer, per POST of 1 and 100 events.
func BenchmarkDelivery(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		benchServer(b, bareHandler(), benchBody(1), 1)
	})
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			benchServer(b, benchWebhook(b).Handler(), benchBody(n), n)
		})
	}
}

// BenchmarkRatio interleaves single-event deliveries to the webhook and the bare handler, so that both
// see the same machine state, and reports ratio: our deliveries per second over the bare handler's.
func BenchmarkRatio(b *testing.B) {
	body := sign(benchBody(1))
	bare := newLoopback(b, bareHandler())
	ours := newLoopback(b, benchWebhook(b).Handler())
	var bareTime, ourTime time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		bare.post(b, body)
		t1 := time.Now()
		ours.post(b, body)
		ourTime += time.Since(t1)
		bareTime += t1.Sub(t0)
	}
	b.ReportMetric(float64(bareTime)/float64(ourTime), "ratio")
	b.ReportMetric(float64(b.N)/ourTime.Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/bareTime.Seconds(), "bare-deliveries/s")
}

// BenchmarkHandler is the in-process cost of the handler without any network.
func BenchmarkHandler(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			h, body := benchWebhook(b).Handler(), benchBody(n)
			sig := delivery.Sign(appSecret, body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, webhookserver.PathWebhook, bytes.NewReader(body))
				req.Header.Set(delivery.SignatureHeader, sig)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func benchServer(b *testing.B, h http.Handler, body []byte, events int) {
	lb, d := newLoopback(b, h), sign(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		lb.post(b, d)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}

// bareHandler is the baseline: the least a correct webhook endpoint does.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// benchWebhook is a Server with the benchmark's objects in memory and a Writer that stores nothing.
func benchWebhook(b *testing.B) *webhookserver.Server {
	b.Helper()
	srv, err := webhookserver.New(webhookserver.Options{
		AppSecret: appSecret, VerifyToken: verifyToken,
		Reader:     newMemReader(b, benchObjects()...),
		Writer:     noopWriter{},
		Registerer: prometheus.NewRegistry(),
		Logger:     logr.Discard(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

type noopWriter struct{}

func (noopWriter) Write(context.Context, []status.Item) error { return nil }

// loopback is a real HTTP server on 127.0.0.1 and a keep-alive client, as Meta's connections are.
type loopback struct {
	url    string
	client *http.Client
}

// signedBody is a body with its signature, computed once: signing is Meta's work, not the server's.
type signedBody struct {
	body []byte
	sig  string
}

func sign(body []byte) signedBody { return signedBody{body, delivery.Sign(appSecret, body)} }

func newLoopback(b *testing.B, h http.Handler) *loopback {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return &loopback{url: srv.URL + webhookserver.PathWebhook, client: srv.Client()}
}

func (l *loopback) post(b *testing.B, d signedBody) {
	req, err := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(d.body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set(delivery.SignatureHeader, d.sig)
	resp, err := l.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// benchBody is a delivery of n events cycling through what a busy Page receives: referrals with and
// without ref fields, opt-ins, an unknown ref and a plain message. With n = 1 it is one matched referral.
func benchBody(n int) []byte {
	const person = "6543210987654321"
	kinds := []string{
		referral(pageID, person, "summer--738--store12"),
		postbackReferral(pageID, person, "summer"),
		pluginOptIn(pageID, person, "spring--514--a"),
		notificationOptIn(pageID, person, "Weekly deals", "Weekly deals"),
		adReferral(pageID, person, "spring"),
		referral(pageID, person, "unknown"),
		plainMessage(pageID),
	}
	events := make([]string, n)
	for i := range events {
		events[i] = kinds[i%len(kinds)]
	}
	return envelope(events...)
}

// benchObjects are a few dozen links and topics on the benchmark's Page and others.
func benchObjects() []client.Object {
	var objs []client.Object
	for i := range 50 {
		objs = append(objs, &messengerv1.MessengerLink{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("link-%d", i)},
			Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: pageID}, Ref: fmt.Sprintf("ref%d", i)},
			Status:     messengerv1.MessengerLinkStatus{Claim: messengerv1.ClaimKey(pageID, fmt.Sprintf("ref%d", i))},
		})
	}
	for _, ref := range []string{"summer", "spring"} {
		objs = append(objs, &messengerv1.MessengerLink{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: ref},
			Spec:       messengerv1.MessengerLinkSpec{Page: messengerv1.PageRef{ID: pageID}, Ref: ref},
			Status:     messengerv1.MessengerLinkStatus{Claim: messengerv1.ClaimKey(pageID, ref)},
		})
	}
	objs = append(objs, &messengerv1.NotificationTopic{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deals"},
		Spec: messengerv1.NotificationTopicSpec{Page: messengerv1.PageRef{ID: pageID}, Topic: "Weekly deals",
			Registration: &messengerv1.RegistrationSpec{RecipientID: "4242"}},
		Status: messengerv1.NotificationTopicStatus{Claim: messengerv1.ClaimKey(pageID, "Weekly deals")},
	})
	return objs
}

// memReader serves Lists by the operator's field indexes from memory, returning shallow copies as the
// informer cache does with UnsafeDisableDeepCopy. It reads nothing else.
type memReader struct {
	client.Reader // nil: Get is not used by the server
	links         map[string][]messengerv1.MessengerLink
	topics        map[string][]messengerv1.NotificationTopic
}

func newMemReader(tb testing.TB, objs ...client.Object) *memReader {
	tb.Helper()
	ix := memIndexer{}
	if err := index.Setup(context.Background(), ix); err != nil {
		tb.Fatal(err)
	}
	m := &memReader{links: map[string][]messengerv1.MessengerLink{}, topics: map[string][]messengerv1.NotificationTopic{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *messengerv1.MessengerLink:
			for _, k := range ix[index.LinkPageRef](o) {
				m.links[k] = append(m.links[k], *o)
			}
		case *messengerv1.NotificationTopic:
			for _, k := range ix[index.TopicPageTopic](o) {
				m.topics[k] = append(m.topics[k], *o)
			}
		}
	}
	return m
}

// memIndexer collects the extractors index.Setup registers.
type memIndexer map[string]client.IndexerFunc

func (ix memIndexer) IndexField(_ context.Context, _ client.Object, field string, fn client.IndexerFunc) error {
	ix[field] = fn
	return nil
}

func (m *memReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	if lo.FieldSelector == nil {
		return errors.New("memReader: only indexed Lists")
	}
	switch l := list.(type) {
	case *messengerv1.MessengerLinkList:
		key, ok := lo.FieldSelector.RequiresExactMatch(index.LinkPageRef)
		if !ok {
			return fmt.Errorf("memReader: no index for %s", lo.FieldSelector)
		}
		l.Items = append(l.Items[:0], m.links[key]...)
	case *messengerv1.NotificationTopicList:
		key, ok := lo.FieldSelector.RequiresExactMatch(index.TopicPageTopic)
		if !ok {
			return fmt.Errorf("memReader: no index for %s", lo.FieldSelector)
		}
		l.Items = append(l.Items[:0], m.topics[key]...)
	default:
		return fmt.Errorf("memReader: cannot list %T", list)
	}
	return nil
}

// TestBenchFixtures keeps the benchmark honest: its delivery is attributed as intended.
func TestBenchFixtures(t *testing.T) {
	f := newFixture(t, func(o *webhookserver.Options) { o.Reader = newMemReader(t, benchObjects()...) })
	if rec := f.postSigned(benchBody(7)); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got []string
	for _, it := range f.writer.items() {
		got = append(got, it.Target.Name)
	}
	if want := "summer summer spring deals spring"; strings.Join(got, " ") != want {
		t.Errorf("targets %q, want %q", strings.Join(got, " "), want)
	}
}
