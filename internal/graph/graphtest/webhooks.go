package graphtest

import (
	"context"
	"fmt"
	"time"
)

// App is a Meta app with its webhook callback: deliveries for the Pages it is subscribed to go there,
// signed with its secret.
type App struct {
	ID          string
	Name        string
	CallbackURL string
	Secret      string
}

// RetryPolicy is how the emulator retries a failed delivery, as Meta does: a few times at once, then with
// decreasing frequency (each wait Factor times the last, at most Max), until GiveUpAfter.
type RetryPolicy struct {
	// Immediate is how many retries follow a failure at once.
	Immediate int
	// First is the wait before the first retry after the immediate ones; Factor multiplies it each time.
	First  time.Duration
	Factor float64
	// Max bounds a wait.
	Max time.Duration
	// GiveUpAfter is how long after its first attempt a delivery is dropped (Meta: up to 36 hours).
	GiveUpAfter time.Duration
}

// Meta's behaviour, as far as it is published (platform reference, section 7).
var (
	DefaultRetryPolicy = RetryPolicy{Immediate: 2, First: 30 * time.Second, Factor: 2, Max: time.Hour, GiveUpAfter: 36 * time.Hour}
	// DefaultKillSwitchAfter is how long deliveries to an app fail before Meta unsubscribes it from the Page.
	DefaultKillSwitchAfter = time.Hour
)

// WithWebhookRetries sets the retry schedule of webhook deliveries (tests shorten it).
func WithWebhookRetries(p RetryPolicy) Option { return func(s *Server) { s.webhooks.retry = p } }

// WithKillSwitchAfter sets how long deliveries for a Page must fail without a success in between before
// the emulator unsubscribes the app from the Page (one hour by default; seconds in tests).
func WithKillSwitchAfter(d time.Duration) Option { return func(s *Server) { s.webhooks.killAfter = d } }

type webhookState struct {
	retry     RetryPolicy
	killAfter time.Duration
	seq       int
	sent      []*WebhookDelivery
	failing   map[appPage]time.Time // first failure without a success since
	kills     []KillSwitch
}

type appPage struct{ app, page string }

func newWebhookState() webhookState {
	return webhookState{retry: DefaultRetryPolicy, killAfter: DefaultKillSwitchAfter, failing: map[appPage]time.Time{}}
}

// WebhookDelivery is one delivery to one app, with all its attempts.
type WebhookDelivery struct {
	ID     int
	PageID string
	AppID  string
	Field  string
	Body   []byte
	// Attempts are the posts made, oldest first.
	Attempts []Attempt
	// Acked is true once an attempt was answered 2xx; Dropped once the emulator gave up.
	Acked, Dropped bool
	// Duplicate is true for a delivery sent again on demand (Resend).
	Duplicate bool
}

// Attempt is one post of a delivery.
type Attempt struct {
	Time   time.Time
	Status int // 0: no answer
	Err    string
}

// KillSwitch records an app unsubscribed from a Page because its deliveries kept failing.
type KillSwitch struct {
	PageID, AppID string
	Time          time.Time
	FailingSince  time.Time
}

// AddApp registers an app (or replaces it): its callback and the secret that signs its deliveries.
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apps == nil {
		s.apps = map[string]*App{}
	}
	s.apps[a.ID] = &a
}

// Publish makes an event happen on a Page: the envelope (see Deliver for how it is encoded) is delivered
// to every app subscribed to the Page for field, and only to those; each delivery is retried until it is
// answered 2xx or given up. It returns the IDs of the deliveries.
func (s *Server) Publish(pageID, field string, envelope any) ([]int, error) {
	body, err := EncodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []*WebhookDelivery
	if ps := s.pageStates[pageID]; ps != nil {
		for _, appID := range ps.apps {
			if a := s.apps[appID]; a == nil || a.CallbackURL == "" || !containsField(ps.fields[appID], field) {
				continue
			}
			s.webhooks.seq++
			out = append(out, &WebhookDelivery{ID: s.webhooks.seq, PageID: pageID, AppID: appID, Field: field, Body: body})
		}
	}
	s.webhooks.sent = append(s.webhooks.sent, out...)
	s.mu.Unlock()
	ids := make([]int, len(out))
	for i, d := range out {
		ids[i] = d.ID
		s.startDelivery(d)
	}
	return ids, nil
}

// Resend delivers an earlier delivery's bytes once more, as Meta's duplicates do (also of deliveries
// answered 200), to the same app whether or not it is still subscribed. It returns the new delivery's ID.
func (s *Server) Resend(id int) (int, error) {
	s.mu.Lock()
	var orig *WebhookDelivery
	for _, d := range s.webhooks.sent {
		if d.ID == id {
			orig = d
		}
	}
	if orig == nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("graphtest: no delivery %d", id)
	}
	s.webhooks.seq++
	d := &WebhookDelivery{ID: s.webhooks.seq, PageID: orig.PageID, AppID: orig.AppID, Field: orig.Field,
		Body: orig.Body, Duplicate: true}
	s.webhooks.sent = append(s.webhooks.sent, d)
	s.mu.Unlock()
	s.startDelivery(d)
	return d.ID, nil
}

// WebhookDeliveries returns copies of the deliveries made so far, oldest first.
func (s *Server) WebhookDeliveries() []WebhookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WebhookDelivery, len(s.webhooks.sent))
	for i, d := range s.webhooks.sent {
		out[i] = *d
		out[i].Attempts = append([]Attempt(nil), d.Attempts...)
	}
	return out
}

// KillSwitches returns the unsubscriptions the kill switch made, oldest first.
func (s *Server) KillSwitches() []KillSwitch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]KillSwitch(nil), s.webhooks.kills...)
}

func containsField(fields []string, f string) bool {
	for _, g := range fields {
		if g == f {
			return true
		}
	}
	return false
}

// startDelivery posts d until it is acknowledged or given up. Retries of a delivery made before the kill
// switch fired go on after it (what a receiver that recovers sees first); new events no longer reach the
// app until it is subscribed again.
func (s *Server) startDelivery(d *WebhookDelivery) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.mu.Lock()
		p := s.webhooks.retry
		s.mu.Unlock()
		start := s.now()
		wait := p.First
		for n := 0; ; n++ {
			if s.attempt(d) {
				return
			}
			if s.now().Sub(start) >= p.GiveUpAfter {
				s.mu.Lock()
				d.Dropped = true
				s.mu.Unlock()
				s.logf("graph-emulator: delivery %d for page %s to app %s given up after %d attempts", d.ID, d.PageID, d.AppID, n+1)
				return
			}
			var next time.Duration
			if n >= p.Immediate {
				next = wait
				wait = min(time.Duration(float64(wait)*max(p.Factor, 1)), p.Max)
			}
			if !s.sleep(next) {
				return
			}
		}
	}()
}

// attempt posts d once, records the answer, and applies the kill switch; true when acknowledged.
func (s *Server) attempt(d *WebhookDelivery) bool {
	s.mu.Lock()
	a := s.apps[d.AppID]
	s.mu.Unlock()
	if a == nil {
		return true // the app is gone: nothing to deliver to
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	resp, err := Deliver(ctx, a.CallbackURL, a.Secret, d.Body)
	cancel()
	at := Attempt{Time: s.now()}
	if err != nil {
		at.Err = err.Error()
	} else {
		at.Status = resp.StatusCode
		_ = resp.Body.Close()
	}
	ok := at.Status >= 200 && at.Status < 300
	s.mu.Lock()
	defer s.mu.Unlock()
	d.Attempts = append(d.Attempts, at)
	key := appPage{d.AppID, d.PageID}
	if ok {
		d.Acked = true
		delete(s.webhooks.failing, key)
		return true
	}
	since, failing := s.webhooks.failing[key]
	if !failing {
		s.webhooks.failing[key] = at.Time
		return false
	}
	if at.Time.Sub(since) >= s.webhooks.killAfter {
		if ps := s.pageStates[d.PageID]; ps != nil && containsField(ps.apps, d.AppID) {
			s.setSubscriptionLocked(ps, d.AppID, nil)
			s.webhooks.kills = append(s.webhooks.kills, KillSwitch{PageID: d.PageID, AppID: d.AppID, Time: at.Time, FailingSince: since})
			s.logf("graph-emulator: kill switch: app %s unsubscribed from page %s after deliveries failed since %s",
				d.AppID, d.PageID, since.Format(time.RFC3339))
		}
		delete(s.webhooks.failing, key)
	}
	return false
}

// SetKillSwitchAfter changes the kill switch's time on a running emulator (see WithKillSwitchAfter).
func (s *Server) SetKillSwitchAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.killAfter = d
}

// SetWebhookRetries changes the retry schedule for deliveries published from now on.
func (s *Server) SetWebhookRetries(p RetryPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhooks.retry = p
}
