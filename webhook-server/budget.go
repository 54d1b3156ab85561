package webhookserver

import (
	"context"
	"errors"
	"sync"
)

// errBusy is what a request gets when the budget of body bytes in flight has no room for it: the server
// answers 503, which Meta retries.
var errBusy = errors.New("body bytes in flight at the limit")

// budget caps the bytes of request bodies buffered at once across the server. Requests reserve room as
// their bytes arrive (see readBody), never for what a header merely declares, and give it back when they
// are answered.
//
// Waiting is first come, first served, and only requests that hold nothing wait: a request that already
// holds room and needs more asks with tryAcquire, which fails rather than waits. Waiting while holding is
// how a few dozen half-read bodies would deadlock each other at the limit, and a new small delivery (what
// Meta mostly sends) would starve behind them; failing the larger one frees its room at once.
type budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters []*budgetWaiter // FIFO
}

type budgetWaiter struct {
	n       int64
	granted bool          // guarded by budget.mu
	ready   chan struct{} // closed once granted
}

func newBudget(limit int64) *budget { return &budget{limit: limit} }

// acquire reserves n bytes, waiting until ctx is done for room; it returns errBusy if none was found by
// then. n must not exceed the limit.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if w.granted { // granted while ctx ended: keep it, the caller will release it
		return nil
	}
	for i, o := range b.waiters {
		if o == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	// A large waiter at the head may have held back smaller ones that fit.
	b.grantLocked()
	return errBusy
}

// tryAcquire reserves n bytes if there is room now and nobody is waiting; it never waits.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) > 0 || b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// release gives back n bytes reserved by acquire or tryAcquire, and lets waiters in, in order.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.grantLocked()
}

func (b *budget) grantLocked() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.used += w.n
		w.granted = true
		close(w.ready)
	}
}

// inUse returns the bytes reserved now, for the in-flight gauge.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
