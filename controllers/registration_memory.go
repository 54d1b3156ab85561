package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mmelink/operator/internal/graph"
)

// sendOutcome is what one Send API call returned. It is kept in memory until the status that records it
// is stored, so that a failed status write is followed by another write, never by another call.
type sendOutcome struct {
	requestID string
	// at is when the answer came; the recorded times derive from it, so a rewrite records the same ones.
	at     time.Time
	result graph.SendResult
	err    error
	// message is err's text, with the token scrubbed while it was at hand.
	message string
	// delay is the wait before the next attempt after a failure, drawn once (it has jitter).
	delay time.Duration
	// secretVersion is the resourceVersion of the token Secret the call used.
	secretVersion string
}

// failure remembers the token Secret a request failed with for good, to try again when it changes.
type failure struct {
	requestID     string
	secretVersion string
}

// registrationMemory is what the controller knows and the API server does not (yet), per topic.
type registrationMemory struct {
	mu       sync.Mutex
	outcomes map[types.NamespacedName]sendOutcome
	failures map[types.NamespacedName]failure
}

func newRegistrationMemory() *registrationMemory {
	return &registrationMemory{
		outcomes: make(map[types.NamespacedName]sendOutcome),
		failures: make(map[types.NamespacedName]failure),
	}
}

func (m *registrationMemory) putOutcome(key types.NamespacedName, o sendOutcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes[key] = o
}

func (m *registrationMemory) outcome(key types.NamespacedName) (sendOutcome, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.outcomes[key]
	return o, ok
}

// forgetOutcome drops the outcome of requestID once its status is stored.
func (m *registrationMemory) forgetOutcome(key types.NamespacedName, requestID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.outcomes[key]; ok && o.requestID == requestID {
		delete(m.outcomes, key)
	}
}

func (m *registrationMemory) setFailure(key types.NamespacedName, f failure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures[key] = f
}

func (m *registrationMemory) failure(key types.NamespacedName) (failure, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[key]
	return f, ok
}

// drop forgets a deleted topic.
func (m *registrationMemory) drop(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.outcomes, key)
	delete(m.failures, key)
}
