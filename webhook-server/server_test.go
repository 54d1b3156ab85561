package webhookserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
	webhookserver "github.com/mmelink/operator/webhook-server"
)

// serving runs f's server on a loopback port until the returned cancel is called; done receives Serve's
// result.
func serving(t *testing.T, f *fixture) (url string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, served
}

func postTo(url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url+webhookserver.PathWebhook, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set(delivery.SignatureHeader, delivery.Sign(appSecret, body))
	return http.DefaultClient.Do(req)
}

// TestGracefulShutdown: when the manager stops the server, readiness fails first, the listener closes, and
// a delivery already being stored still gets its 200.
func TestGracefulShutdown(t *testing.T) {
	w := &recordingWriter{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	f := newFixture(t, func(o *webhookserver.Options) { o.Writer = w }, summerLink.DeepCopy())
	url, cancel, done := serving(t, f)

	if resp, err := http.Get(url + webhookserver.PathReadyz); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz before shutdown: %v %v", resp, err)
	}

	type answer struct {
		code int
		body string
		err  error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := postTo(url, envelope(referral(pageID, "1", "summer")))
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- answer{resp.StatusCode, string(b), err}
	}()
	<-w.entered // the delivery is being stored
	cancel()

	eventually(t, 2*time.Second, func() error {
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, webhookserver.PathReadyz, nil))
		if rec.Code != http.StatusServiceUnavailable {
			return fmt.Errorf("readyz = %d while draining, want 503", rec.Code)
		}
		return nil
	})
	eventually(t, 2*time.Second, func() error {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
		if err == nil {
			conn.Close()
			return fmt.Errorf("a new connection was accepted while draining")
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) before the in-flight delivery finished", err)
	case <-inFlight:
		t.Fatal("the in-flight delivery was answered before its Writer returned")
	default:
	}

	close(w.block) // the Writer stores the delivery
	a := <-inFlight
	if a.err != nil || a.code != http.StatusOK || a.body != webhookserver.EventReceived {
		t.Errorf("in-flight delivery: %d %q %v, want 200 %s", a.code, a.body, a.err, webhookserver.EventReceived)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
}

// TestShutdownTimeout: a request still running when ShutdownTimeout ends makes Serve return an error
// rather than hang the manager's shutdown.
func TestShutdownTimeout(t *testing.T) {
	w := &recordingWriter{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(w.block)
	f := newFixture(t, func(o *webhookserver.Options) {
		o.Writer, o.ShutdownTimeout, o.CommitTimeout = w, 50*time.Millisecond, 5*time.Second
	}, summerLink.DeepCopy())
	url, cancel, done := serving(t, f)
	go func() {
		if resp, err := postTo(url, envelope(referral(pageID, "1", "summer"))); err == nil {
			resp.Body.Close()
		}
	}()
	<-w.entered
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not finished within 50ms") {
			t.Errorf("Serve = %v, want an error about the shutdown timeout", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Serve returned %s after cancel, want about 50ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestStartReportsListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	f := newFixture(t, func(o *webhookserver.Options) { o.Addr = taken.Addr().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Start(ctx); err == nil || !strings.Contains(err.Error(), "listening") {
		t.Errorf("Start on a taken port = %v, want a listen error", err)
	}
}

func TestNeedLeaderElection(t *testing.T) {
	if newFixture(t, nil).srv.NeedLeaderElection() {
		t.Error("the webhook server must run on every replica, not only the leader")
	}
}
