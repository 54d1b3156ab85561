package status

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// budget paces the Store's status writes over all objects: a token bucket of WritesPerSecond (burst of
// one second's worth), and a pause the API server asks for with 429 and Retry-After.
type budget struct {
	lim *rate.Limiter // nil: no budget

	mu          sync.Mutex
	pausedUntil time.Time
}

func newBudget(perSecond float64) *budget {
	if perSecond < 0 {
		return &budget{}
	}
	return &budget{lim: rate.NewLimiter(rate.Limit(perSecond), max(1, int(math.Ceil(perSecond))))}
}

// wait blocks until a write may go, and reports true; or, when that would take longer than maxWait,
// reserves nothing and reports false at once, so that the parts waiting fail while they can still be
// answered in time.
func (b *budget) wait(maxWait time.Duration) bool {
	now := time.Now()
	b.mu.Lock()
	pause := b.pausedUntil.Sub(now)
	b.mu.Unlock()
	if pause > maxWait {
		return false
	}
	delay := max(pause, 0)
	if b.lim != nil {
		r := b.lim.ReserveN(now.Add(delay), 1)
		d := r.DelayFrom(now)
		if !r.OK() || d > maxWait {
			r.CancelAt(now)
			return false
		}
		delay = max(delay, d)
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	return true
}

// pause holds every write back for d, as the API server asked.
func (b *budget) pause(d time.Duration) {
	until := time.Now().Add(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}
