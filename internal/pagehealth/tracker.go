// Package pagehealth is the webhook server's side of the kill-switch watchdog. Meta unsubscribes an app
// from a Page after an hour of failed deliveries; the webhook server records, per Page ID, when it last
// answered a delivery 200 and since when it has been refusing them (503), and writes both into the
// MessengerPage's status.webhook, at most once per 30 seconds per Page and only when they change, so
// that the MessengerPage controller can turn Receiving=False long before Meta gives up.
//
// The handler calls Tracker.Answered and Tracker.Refused; a Writer added to the manager writes.
package pagehealth

import (
	"sync"
	"time"
)

// Health is what the webhook server knows of one Page's deliveries. Times are whole seconds, as status
// stores them; zero means never.
type Health struct {
	// LastDelivery is when a delivery for the Page was last answered 200.
	LastDelivery time.Time
	// RefusingSince is when the current run of refusals began; zero after a 200.
	RefusingSince time.Time
}

// Tracker records the answers to deliveries per Page ID. It is safe for concurrent use.
//
// A run of refusals also ends without a 200 for its own Page: when a delivery for any Page is stored
// after the Page's last refusal (the cause, the API server or the database, is shared), or when no
// refusal came for RefusalsEndAfter. Otherwise a Page that Meta unsubscribed, and so receives nothing,
// would look refused for ever, and the controller would never subscribe it again.
type Tracker struct {
	mu          sync.Mutex
	pages       map[string]Health
	lastRefused map[string]time.Time
	lastStored  time.Time // the last delivery stored, for any Page
}

// RefusalsEndAfter is how long a run of refusals lasts without a new one. Meta retries a failing
// delivery within seconds at first, so a real outage keeps refusing well inside it.
const RefusalsEndAfter = 5 * time.Minute

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{pages: map[string]Health{}, lastRefused: map[string]time.Time{}}
}

// Answered records a delivery for pageID answered 200 at t: refusals are over.
func (t *Tracker) Answered(pageID string, at time.Time) {
	at = at.Truncate(time.Second)
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.pages[pageID]
	if at.After(h.LastDelivery) {
		h.LastDelivery = at
	}
	if at.After(t.lastStored) {
		t.lastStored = at
	}
	if !h.RefusingSince.After(h.LastDelivery) {
		h.RefusingSince = time.Time{}
	}
	t.pages[pageID] = h
}

// Refused records a delivery for pageID refused (503) at t; the first refusal after a 200 starts the run.
func (t *Tracker) Refused(pageID string, at time.Time) {
	at = at.Truncate(time.Second)
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.pages[pageID]
	if h.RefusingSince.IsZero() && !at.Before(h.LastDelivery) {
		h.RefusingSince = at
	}
	t.pages[pageID] = h
	if at.After(t.lastRefused[pageID]) {
		t.lastRefused[pageID] = at
	}
}

// Snapshot returns the health of every Page seen so far, as of now.
func (t *Tracker) Snapshot(now time.Time) map[string]Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Health, len(t.pages))
	for k, v := range t.pages {
		if last := t.lastRefused[k]; !v.RefusingSince.IsZero() && (t.lastStored.After(last) || now.Sub(last) >= RefusalsEndAfter) {
			v.RefusingSince = time.Time{}
			t.pages[k] = v
		}
		out[k] = v
	}
	return out
}
