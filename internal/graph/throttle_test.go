package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mmelink/operator/internal/graph/graphtest"
)

func TestThrottlePauseHonoured(t *testing.T) {
	f := newFixture(t, nil)
	const other = "1000000002"
	f.emu.AddPage(other, token)
	f.emu.Throttle(page, 5)

	_, err := f.send("T")
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != 80006 || Classify(err) != Throttled {
		t.Fatalf("first call: %v, want a throttled 80006", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 5*time.Minute {
		t.Fatalf("RetryAfter = %v, %v; want the regain time 5m", d, ok)
	}

	f.clock.Advance(4 * time.Minute)
	_, err = f.send("T")
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != time.Minute || Reason(err) != ReasonRateLimited {
		t.Fatalf("call while paused: %v, want a local ThrottledError with 1m left", err)
	}
	if n := len(f.emu.Requests()); n != 1 {
		t.Fatalf("a paused call reached the network: %d requests", n)
	}
	if _, err := f.client.SendOptInRequest(context.Background(), other, token,
		OptInRequest{RecipientID: psid, Title: "T"}); err != nil {
		t.Fatalf("another page was paused too: %v", err)
	}

	f.clock.Advance(time.Minute)
	if _, err := f.send("T"); err != nil {
		t.Fatalf("call after the pause: %v", err)
	}
	if got := f.emu.RateStats(page); got.Requests != 2 || got.Rejected != 1 {
		t.Errorf("emulator stats = %+v, want 2 requests, 1 rejected", got)
	}
}

func TestUsageAt100PausesAfterSuccess(t *testing.T) {
	f := newFixture(t, nil, WithThrottlePause(30*time.Second))
	f.emu.SetUsage(page, 100)
	res, err := f.send("A")
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.MaxPercent() != 100 {
		t.Errorf("result usage = %+v", res.Usage)
	}
	if d := f.client.PausedFor(page); d != 30*time.Second {
		t.Fatalf("PausedFor = %v, want the default pause 30s", d)
	}
	if _, err := f.send("B"); Classify(err) != Throttled {
		t.Fatalf("err = %v, want throttled", err)
	}
	f.emu.SetUsage(page, 10)
	f.clock.Advance(30 * time.Second)
	if _, err := f.send("B"); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
}

func TestRateLimitWithoutRegainUsesDefaultPause(t *testing.T) {
	f := newFixture(t, nil, WithThrottlePause(10*time.Second))
	f.emu.SetRateLimit(page, 1, 1)
	if _, err := f.send("A"); err != nil {
		t.Fatal(err)
	}
	_, err := f.send("B")
	if d, ok := RetryAfter(err); !ok || d != 10*time.Second {
		t.Fatalf("err = %v, RetryAfter = %v; want code 32 with the 10s default", err, d)
	}
	for range 5 {
		_, _ = f.send("C")
	}
	if st := f.emu.RateStats(page); st.Requests != 2 || st.MaxPerSecond != 2 {
		t.Errorf("emulator stats = %+v: the client kept calling while paused", st)
	}
}

// TestThrottledWaitFromHeaders: a throttled answer pauses the Page for the regain time of whichever
// usage header gives one (the longest), else for the default pause; a regain time on any other answer
// pauses the Page too.
func TestThrottledWaitFromHeaders(t *testing.T) {
	buc := func(minutes float64) string {
		return fmt.Sprintf(`{%q:[{"type":"messenger","call_count":100,"total_cputime":40,"total_time":60,`+
			`"estimated_time_to_regain_access":%g}]}`, page, minutes)
	}
	tests := []struct {
		name   string
		code   int
		header http.Header
		class  Class
		pause  time.Duration
	}{
		{"80006 with BUC regain", 80006, header(HeaderBusinessUseCaseUsage, buc(7)), Throttled, 7 * time.Minute},
		{"613 with BUC regain", 613, header(HeaderBusinessUseCaseUsage, buc(2)), Throttled, 2 * time.Minute},
		{"32 with regain in X-Page-Usage", 32, header(HeaderPageUsage, `{"call_count":100,"estimated_time_to_regain_access":4}`),
			Throttled, 4 * time.Minute},
		{"4 at 100 percent without regain", 4, header(HeaderAppUsage, `{"call_count":100,"total_time":5,"total_cputime":5}`),
			Throttled, 45 * time.Second},
		{"17 without headers", 17, nil, Throttled, 45 * time.Second},
		{"longest regain wins", 80006, header(HeaderBusinessUseCaseUsage, buc(3), HeaderPageUsage,
			`{"call_count":100,"estimated_time_to_regain_access":5}`), Throttled, 5 * time.Minute},
		{"regain on a permanent error", 100, header(HeaderBusinessUseCaseUsage, buc(3)), Permanent, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, WithThrottlePause(45*time.Second))
			f.emu.SetFault(graphtest.Match{PageID: page}, graphtest.Fault{Code: tt.code, Header: tt.header, Times: 1})
			_, err := f.send("T")
			if Classify(err) != tt.class {
				t.Fatalf("err = %v: class %q, want %q", err, Classify(err), tt.class)
			}
			if d := f.client.PausedFor(page); d != tt.pause {
				t.Errorf("PausedFor = %v, want %v", d, tt.pause)
			}
			if d, ok := RetryAfter(err); tt.class == Throttled && (!ok || d != tt.pause) {
				t.Errorf("RetryAfter = %v, %v; want %v", d, ok, tt.pause)
			}
			f.clock.Advance(tt.pause - time.Second)
			if _, err := f.send("T"); !errors.As(err, new(*ThrottledError)) {
				t.Errorf("a second before the end: %v, want a local pause", err)
			}
			f.clock.Advance(time.Second)
			if _, err := f.send("T"); err != nil {
				t.Errorf("at the end of the pause: %v", err)
			}
			if n := len(f.emu.Requests()); n != 2 {
				t.Errorf("%d requests reached Meta, want 2", n)
			}
		})
	}
}

// TestTokenNeverInErrors drives every failure path and looks for the token in the error text.
func TestTokenNeverInErrors(t *testing.T) {
	ok := OptInRequest{RecipientID: psid, Title: "T"}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A hostile or broken server echoing the credential everywhere it can.
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Fb-Trace-Id", auth)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"message":%q,"type":%q,"code":100,"error_user_title":%q,"error_user_msg":%q,"fbtrace_id":%q}}`,
			auth, auth, auth, auth, auth)
	}))
	defer echo.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://example.invalid/?access_token="+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), http.StatusFound)
	}))
	defer redirect.Close()

	tests := []struct {
		name  string
		setup func(*fixture) *Client
		page  string
		tok   string
		req   OptInRequest
		ctx   func() context.Context
	}{
		{name: "invalid request", req: OptInRequest{RecipientID: psid}},
		{name: "token with a newline", tok: token + "\n"},
		{name: "wrong token", tok: token + "x"},
		{name: "unknown page", page: "42"},
		{name: "fault echoing the token", setup: func(f *fixture) *Client {
			f.emu.SetFault(graphtest.Match{}, graphtest.Fault{Code: 100, Message: "bad " + token, UserTitle: token, UserMessage: token})
			return nil
		}},
		{name: "plain 502", setup: func(f *fixture) *Client { f.emu.FailNext("", 0, 0, 502, 9); return nil }},
		{name: "dropped connection", setup: func(f *fixture) *Client {
			f.emu.SetFault(graphtest.Match{}, graphtest.Fault{CloseConnection: true})
			return nil
		}},
		{name: "throttled then paused", setup: func(f *fixture) *Client {
			f.emu.Throttle(page, 1)
			_, _ = f.send("first")
			return nil
		}},
		{name: "deadline", setup: func(f *fixture) *Client {
			f.emu.SetFault(graphtest.Match{}, graphtest.Fault{Latency: time.Second})
			return nil
		}, ctx: func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}},
		{name: "server echoing the header", setup: func(*fixture) *Client {
			c, _ := New(WithBaseURL(echo.URL))
			return c
		}},
		{name: "redirect", setup: func(*fixture) *Client {
			c, _ := New(WithBaseURL(redirect.URL))
			return c
		}},
		{name: "connection refused", setup: func(*fixture) *Client {
			c, _ := New(WithBaseURL("http://127.0.0.1:1"))
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			c := f.client
			if tt.setup != nil {
				if other := tt.setup(f); other != nil {
					c = other
				}
			}
			pageID, tok, req, ctx := page, token, ok, context.Background()
			if tt.page != "" {
				pageID = tt.page
			}
			if tt.tok != "" {
				tok = tt.tok
			}
			if tt.req != (OptInRequest{}) {
				req = tt.req
			}
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			_, err := c.SendOptInRequest(ctx, pageID, tok, req)
			if err == nil {
				t.Fatal("no error")
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err)} {
				if strings.Contains(text, token) {
					t.Fatalf("token in error text: %s", text)
				}
			}
			var ge *Error
			if errors.As(err, &ge) && strings.Contains(fmt.Sprintf("%#v", *ge), token) {
				t.Fatalf("token in *Error fields: %#v", *ge)
			}
			for _, r := range f.emu.Requests() {
				if strings.Contains(r.URL, token) || strings.Contains(fmt.Sprint(r.Header), token) {
					t.Fatalf("token in recorded request: %s %v", r.URL, r.Header)
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.send("A"); err != nil {
		t.Fatal(err)
	}
	f.emu.FailNext(page, 190, 0, 0, 1)
	_, _ = f.send("B")
	f.emu.FailNext(page, 0, 0, 503, 1)
	_, _ = f.send("C") // 503, not retried within the call
	f.emu.Throttle(page, 1)
	_, _ = f.send("D")
	_, _ = f.send("E") // paused locally: no request, not counted

	want := map[string]float64{"success": 1, "permanent": 1, "transient": 1, "throttled": 1}
	for outcome, n := range want {
		got := testutil.ToFloat64(f.metrics.requests.WithLabelValues(ActionSendOptInRequest, outcome))
		if got != n {
			t.Errorf("requests{outcome=%q} = %v, want %v", outcome, got, n)
		}
	}
	if n := testutil.CollectAndCount(f.metrics.duration); n != 1 {
		t.Errorf("duration series = %d, want 1 (one action)", n)
	}
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{ActionSendOptInRequest: true, "success": true, "permanent": true, "transient": true, "throttled": true}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetValue()] {
					t.Errorf("%s has label %s=%q", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}
