package graphtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mmelink/operator/internal/delivery"
)

const secret = "app-secret-for-tests"

// webhook records deliveries and answers status.
type webhook struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  []int // answers in order; 200 once exhausted
	got     chan []byte
}

func newWebhook(t *testing.T, status ...int) *webhook {
	w := &webhook{status: status, got: make(chan []byte, 16)}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, body)
		w.headers = append(w.headers, r.Header.Clone())
		code := http.StatusOK
		if len(w.status) > 0 {
			code, w.status = w.status[0], w.status[1:]
		}
		w.mu.Unlock()
		rw.WriteHeader(code)
		if code == http.StatusOK {
			w.got <- body
		}
	}))
	t.Cleanup(w.Close)
	return w
}

func TestAutoConfirm(t *testing.T) {
	wh := newWebhook(t, http.StatusServiceUnavailable) // first attempt fails: the emulator retries
	s, _ := newServer(t)
	s.AutoConfirm(wh.URL, secret, 0)
	r := do(t, s, http.MethodPost, messages, token, optinBody(nil))
	if r.status != 200 {
		t.Fatalf("opt-in request: %s", r.raw)
	}
	var body []byte
	select {
	case body = <-wh.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no opt-in delivered")
	}
	d, err := delivery.Parse(body)
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("parse: %v", err)
	}
	e := d.Events[0]
	if e.Kind != delivery.KindNotificationOptIn || e.SenderID != psid || e.OptIn.Title != "Weekly deals" ||
		e.OptIn.Payload != "p" || e.OptIn.Timezone != "Europe/Paris" || e.OptIn.Token != NotificationToken(page, psid, "Weekly deals") {
		t.Errorf("auto opt-in = %+v", e)
	}
	got := waitDeliveries(t, s, 1)
	if len(got) != 1 || got[0].Status != 200 || got[0].Attempts != 2 || got[0].Err != "" {
		t.Errorf("Deliveries = %+v, want one success after 2 attempts", got)
	}

	// A failed request triggers nothing.
	wh2 := newWebhook(t)
	s2, _ := newServer(t)
	s2.AutoConfirm(wh2.URL, secret, 0)
	do(t, s2, http.MethodPost, messages, "wrong", optinBody(nil))
	s2.Close()
	if len(s2.Deliveries()) != 0 || len(wh2.bodies) != 0 {
		t.Errorf("a failed request was confirmed: %+v", s2.Deliveries())
	}
}

// waitDeliveries polls until the emulator has recorded n automatic opt-ins: the webhook sees the body
// before the emulator sees the answer.
func waitDeliveries(t *testing.T, s *Server, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := s.Deliveries()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsPendingConfirmations(t *testing.T) {
	wh := newWebhook(t)
	s, _ := newServer(t)
	s.AutoConfirm(wh.URL, secret, time.Hour)
	do(t, s, http.MethodPost, messages, token, optinBody(nil))
	start := time.Now()
	s.Close()
	if time.Since(start) > time.Second {
		t.Errorf("Close waited %v for a pending confirmation", time.Since(start))
	}
	if got := s.Deliveries(); len(got) != 1 || got[0].Attempts != 0 || got[0].Err == "" {
		t.Errorf("Deliveries = %+v, want one abandoned", got)
	}
}
