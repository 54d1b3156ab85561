package graph

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mmelink/operator/internal/graph/graphtest"
)

const (
	page  = "1000000001"
	token = "EAAGtestPageTokenZX9"
	psid  = "24601"
)

// fakeClock is shared by client and emulator, so both agree when a pause ends.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	emu     *graphtest.Server
	client  *Client
	clock   *fakeClock
	reg     *prometheus.Registry
	metrics *Metrics
}

func newFixture(t *testing.T, emuOpts []graphtest.Option, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{clock: newFakeClock(), reg: prometheus.NewRegistry()}
	f.emu = graphtest.New(append([]graphtest.Option{graphtest.WithClock(f.clock.Now)}, emuOpts...)...)
	t.Cleanup(f.emu.Close)
	f.emu.AddPage(page, token)
	f.metrics = NewMetrics(f.reg)
	base := []Option{
		WithBaseURL(f.emu.URL), WithClock(f.clock), WithMetrics(f.metrics),
		WithHTTPClient(&http.Client{Timeout: 5 * time.Second}),
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

func (f *fixture) send(title string) (SendResult, error) {
	return f.client.SendOptInRequest(context.Background(), page, token,
		OptInRequest{RecipientID: psid, Title: title, Payload: "p", CTAText: "GET_UPDATES"})
}

func TestSendOptInRequestSuccess(t *testing.T) {
	for _, nested := range []bool{false, true} {
		var opts []graphtest.Option
		if nested {
			opts = append(opts, graphtest.WithNestedSuccess())
		}
		f := newFixture(t, opts)
		res, err := f.send("Weekly deals")
		if err != nil {
			t.Fatalf("nested=%v: %v", nested, err)
		}
		if res.RecipientID != psid || !strings.HasPrefix(res.MessageID, "m_") {
			t.Errorf("nested=%v: result = %+v", nested, res)
		}
		reqs := f.emu.Requests()
		if len(reqs) != 1 {
			t.Fatalf("emulator saw %d requests, want 1", len(reqs))
		}
		r := reqs[0]
		if r.URL != "/"+DefaultAPIVersion+"/"+page+"/messages" {
			t.Errorf("URL = %q", r.URL)
		}
		if r.TokenSource != "header" || strings.Contains(r.URL, token) || strings.Contains(r.URL, "access_token") {
			t.Errorf("token travelled via %q, URL %q", r.TokenSource, r.URL)
		}
		p := r.Send.Message.Attachment.Payload
		if p.TemplateType != "notification_messages" || p.Title != "Weekly deals" || p.Timezone != "UTC" || p.CTAText != "GET_UPDATES" {
			t.Errorf("payload = %+v", p)
		}
	}
}

func TestAPIVersionPerClientAndPerCall(t *testing.T) {
	f := newFixture(t, nil, WithAPIVersion("v20.0"))
	if _, err := f.send("A"); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.SendOptInRequest(context.Background(), page, token,
		OptInRequest{RecipientID: psid, Title: "B", APIVersion: "v21.0"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.emu.Requests()
	if reqs[0].Version != "v20.0" || reqs[1].Version != "v21.0" {
		t.Errorf("versions = %q, %q; want v20.0, v21.0", reqs[0].Version, reqs[1].Version)
	}
	if _, err := New(WithAPIVersion("latest")); err == nil {
		t.Error("New accepted API version \"latest\"")
	}
	if _, err := New(WithBaseURL("graph.facebook.com")); err == nil {
		t.Error("New accepted a base URL without scheme")
	}
}

func TestErrorsFromEmulator(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*graphtest.Server)
		pageID   string
		token    string
		class    Class
		reason   string
		code     int
		subcode  int
		requests int
	}{
		{"wrong token", nil, page, "EAAGwrong", Permanent, ReasonInvalidToken, 190, 0, 1},
		{"unknown page", nil, "999", token, Permanent, ReasonInvalidRequest, 100, 33, 1},
		{"permission", func(s *graphtest.Server) { s.FailNext(page, 200, 0, 403, 1) }, page, token, Permanent, ReasonPermissionDenied, 200, 0, 1},
		{"policy", func(s *graphtest.Server) { s.FailNext(page, 368, 0, 0, 1) }, page, token, Permanent, ReasonPolicyBlocked, 368, 0, 1},
		{"region", func(s *graphtest.Server) { s.FailNext(psid, 10, 1893063, 0, 1) }, page, token, Permanent, ReasonTopicRestricted, 10, 1893063, 1},
		{"opted out", func(s *graphtest.Server) { s.FailNext(psid, 10, 1893015, 0, 1) }, page, token, Permanent, ReasonRecipientOptedOut, 10, 1893015, 1},
		{"throttled 4", func(s *graphtest.Server) { s.FailNext(page, 4, 0, 0, 1) }, page, token, Throttled, ReasonRateLimited, 4, 0, 1},
		{"transient 2", func(s *graphtest.Server) { s.FailNext(page, 2, 0, 503, 5) }, page, token, Transient, ReasonTransient, 2, 0, 1},
		{"plain 502", func(s *graphtest.Server) { s.FailNext(page, 0, 0, 502, 5) }, page, token, Transient, ReasonTransient, 0, 0, 1},
		{"temporary send failure", func(s *graphtest.Server) { s.FailNext(page, 1200, 2018024, 0, 1) }, page, token, Transient, ReasonTransient, 1200, 2018024, 1},
		{"outside the messaging window", func(s *graphtest.Server) { s.FailNext(psid, 10, 2018278, 0, 1) }, page, token, Permanent, ReasonRecipientUnavailable, 10, 2018278, 1},
		{"unknown code Meta calls transient", func(s *graphtest.Server) {
			s.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{Code: 4242, IsTransient: true, Times: 1})
		}, page, token, Transient, ReasonTransient, 4242, 0, 1},
		{"unknown code", func(s *graphtest.Server) { s.FailNext(page, 4242, 0, 0, 1) }, page, token, Permanent, ReasonGraphError, 4242, 0, 1},
		{"revoked token", func(s *graphtest.Server) { s.RevokeToken(token) }, page, token, Permanent, ReasonInvalidToken, 190, 460, 1},
		{"expired token", func(s *graphtest.Server) { s.ExpireToken(token) }, page, token, Permanent, ReasonInvalidToken, 190, 463, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if tt.setup != nil {
				tt.setup(f.emu)
			}
			_, err := f.client.SendOptInRequest(context.Background(), tt.pageID, tt.token,
				OptInRequest{RecipientID: psid, Title: "T"})
			if Classify(err) != tt.class || Reason(err) != tt.reason {
				t.Fatalf("err = %v: class %q reason %q, want %q %q", err, Classify(err), Reason(err), tt.class, tt.reason)
			}
			var ge *Error
			if !errors.As(err, &ge) || ge.Code != tt.code || ge.Subcode != tt.subcode {
				t.Fatalf("err = %#v, want *Error %d/%d", err, tt.code, tt.subcode)
			}
			if tt.code != 0 && (ge.FBTraceID == "" || ge.Type != "OAuthException" || ge.Message == "") {
				t.Errorf("Graph fields missing: %+v", ge)
			}
			if n := len(f.emu.Requests()); n != tt.requests {
				t.Errorf("emulator saw %d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestWeeklyTitleRuleIsPermanent(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.send("Deals"); err != nil {
		t.Fatal(err)
	}
	_, err := f.send("Deals")
	if Classify(err) != Permanent || Reason(err) != ReasonRequestLimitReached {
		t.Fatalf("second request: %v (%s/%s)", err, Classify(err), Reason(err))
	}
	if d := f.client.PausedFor(page); d != 0 {
		t.Errorf("a frequency rule paused the page for %v", d)
	}
}

// A call sends its request once, whatever the failure: the topic controller retries from status,
// through its per-Page rate limiter. What the error says decides whether that retry is safe.
func TestNoRetryWithinCall(t *testing.T) {
	t.Run("a 503 is returned, transient", func(t *testing.T) {
		f := newFixture(t, nil)
		f.emu.FailNext(page, 0, 0, 503, 1)
		if _, err := f.send("T"); Classify(err) != Transient {
			t.Fatalf("err = %v, want transient", err)
		}
		if n := len(f.emu.Requests()); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
	t.Run("lost answer: outcome unknown", func(t *testing.T) {
		// The request arrived; sending it again could send the opt-in twice.
		f := newFixture(t, nil)
		f.emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{CloseConnection: true, Times: 1})
		_, err := f.send("T")
		if Classify(err) != Transient || !OutcomeUnknown(err) {
			t.Fatalf("err = %v, want transient with an unknown outcome", err)
		}
		if n := len(f.emu.Requests()); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
	t.Run("refused connection: certainly not sent", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		var dials atomic.Int32
		tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		}}
		c, err := New(WithBaseURL("http://"+addr), WithHTTPClient(&http.Client{Transport: tr}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SendOptInRequest(context.Background(), page, token, OptInRequest{RecipientID: psid, Title: "T"})
		if Classify(err) != Transient || OutcomeUnknown(err) {
			t.Fatalf("err = %v, want transient, certainly not sent", err)
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("dials = %d, want 1", n)
		}
	})
}

func TestContextCancellation(t *testing.T) {
	f := newFixture(t, nil)
	f.emu.SetFault(graphtest.Match{}, graphtest.Fault{Latency: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.client.SendOptInRequest(ctx, page, token, OptInRequest{RecipientID: psid, Title: "T"})
	if !errors.Is(err, context.DeadlineExceeded) || Classify(err) != Transient {
		t.Fatalf("err = %v, want a transient deadline error", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("call took %v despite a 50ms deadline", time.Since(start))
	}

	canceled, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	if _, err := f.client.SendOptInRequest(canceled, page, token, OptInRequest{RecipientID: psid, Title: "T"}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
