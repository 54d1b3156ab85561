package webhookserver_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	ctrl "sigs.k8s.io/controller-runtime"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/index"
	"github.com/mmelink/operator/internal/pgtest"
	"github.com/mmelink/operator/internal/scheme"
	"github.com/mmelink/operator/internal/status"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// The secrets of every test server. Distinctive, so that a leak into a log line is found by search.
var (
	appSecret   = []byte("app-secret-5Qm9Zr7wXc")
	verifyToken = []byte("verify-token-Kx82Lp0dVe")
)

// pageID is the Page of the test deliveries.
const pageID = "1234567890"

func TestMain(m *testing.M) {
	// The manager's own log lines (cache, informers) are not what these tests look at.
	ctrl.SetLogger(logr.Discard())
	code := pgtest.Run(m) // m.Run, then stops the PostgreSQL a benchmark may have started
	// The control plane is started by the first test that needs it (see envtest_test.go), so that unit
	// tests, fuzzing and benchmarks do not pay for it.
	if err := stopEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// recordingWriter is a status.Writer that records what it is asked to store. err is returned from every
// Write; block, when set, makes Write wait for it to close, or, as the contract says, for the context to end
// (then it returns a wrapped ErrUnavailable); entered, when set, receives a value as each Write begins
// unless its buffer is full.
type recordingWriter struct {
	err     error
	block   chan struct{}
	entered chan struct{}

	mu    sync.Mutex
	calls [][]status.Item
}

func (w *recordingWriter) Write(ctx context.Context, items []status.Item) error {
	w.mu.Lock()
	w.calls = append(w.calls, items)
	w.mu.Unlock()
	select {
	case w.entered <- struct{}{}:
	default:
	}
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", status.ErrUnavailable, ctx.Err())
		}
	}
	return w.err
}

// items returns everything Write was given, all calls together.
func (w *recordingWriter) items() []status.Item {
	w.mu.Lock()
	defer w.mu.Unlock()
	var all []status.Item
	for _, c := range w.calls {
		all = append(all, c...)
	}
	return all
}

func (w *recordingWriter) callCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

// fixture is a Server under test with what it was built from.
type fixture struct {
	srv    *webhookserver.Server
	reg    *prometheus.Registry
	writer *recordingWriter
}

// newFixture builds a Server with the test secrets, a fresh registry, a recording Writer and, unless
// edit sets another Reader, a fake client with the operator's indexes and objs.
func newFixture(t testing.TB, edit func(*webhookserver.Options), objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), writer: &recordingWriter{}}
	o := webhookserver.Options{
		AppSecret:   appSecret,
		VerifyToken: verifyToken,
		Reader:      fakeReader(t, objs...),
		Writer:      f.writer,
		Registerer:  f.reg,
		Logger:      logr.Discard(),
	}
	if edit != nil {
		edit(&o)
	}
	srv, err := webhookserver.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.srv = srv
	return f
}

// fakeReader is controller-runtime's fake client with the indexes of index.Setup: correct, not fast.
func fakeReader(t testing.TB, objs ...client.Object) client.Reader {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...)
	if err := index.Setup(context.Background(), builderIndexer{b}); err != nil {
		t.Fatal(err)
	}
	return b.Build()
}

// builderIndexer lets index.Setup register its indexes with a fake.ClientBuilder.
type builderIndexer struct{ b *fake.ClientBuilder }

func (i builderIndexer) IndexField(_ context.Context, obj client.Object, field string, fn client.IndexerFunc) error {
	i.b.WithIndex(obj, field, fn)
	return nil
}

// post sends body to /webhook through the handler, signed with sig unless sig is empty.
func (f *fixture) post(body []byte, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, webhookserver.PathWebhook, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(delivery.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// postSigned sends body signed with the app secret, as Meta does.
func (f *fixture) postSigned(body []byte) *httptest.ResponseRecorder {
	return f.post(body, delivery.Sign(appSecret, body))
}

// metric returns the value of the counter name{label=value} (or the sample count of the histogram), or,
// with an empty label, the sum over all its series; 0 when there is none.
func (f *fixture) metric(t testing.TB, name, label, value string) float64 {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var sum float64
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			if label != "" && !hasLabel(m, label, value) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// Delivery bodies, shaped as Meta sends them.

// envelope wraps events in a page delivery with one entry.
func envelope(events ...string) []byte {
	return []byte(`{"object":"page","entry":[{"id":"` + pageID + `","time":1458692752478,"messaging":[` +
		strings.Join(events, ",") + `]}]}`)
}

// referral is a messaging_referrals event: a returning person opened an m.me link with ref.
func referral(page, sender, ref string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752478,`+
		`"referral":{"ref":%q,"source":"SHORTLINK","type":"OPEN_THREAD"}}`, sender, page, ref)
}

// postbackReferral is a Get Started postback carrying a referral: a new conversation.
func postbackReferral(page, sender, ref string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752479,`+
		`"postback":{"payload":"GET_STARTED","mid":"m_1","referral":{"ref":%q,"source":"SHORTLINK","type":"OPEN_THREAD"}}}`,
		sender, page, ref)
}

// pluginOptIn is a Send-to-Messenger plugin opt-in with data-ref ref.
func pluginOptIn(page, sender, ref string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752480,"optin":{"ref":%q}}`,
		sender, page, ref)
}

// notificationOptIn is a recurring-notification opt-in; topic is notification_messages_topic (m.me/rn
// opt-ins) and may be empty, title the request's title.
func notificationOptIn(page, sender, topic, title string) string {
	return fmt.Sprintf(`{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":1458692752481,"optin":{`+
		`"type":"notification_messages","title":%q,"notification_messages_topic":%q,`+
		`"notification_messages_token":"tok-%s","notification_messages_frequency":"DAILY"}}`,
		sender, page, title, topic, sender)
}

// plainMessage is an event the operator does not track.
func plainMessage(page string) string {
	return `{"sender":{"id":"111"},"recipient":{"id":"` + page + `"},"timestamp":1458692752482,"message":{"mid":"m_2","text":"hi"}}`
}

// counterValue sums a counter over the series with label=value (over all of them when label is "").
func counterValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" || hasLabel(m, label, value) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
