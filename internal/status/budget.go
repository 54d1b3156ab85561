package status

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// budget paces the Store's writes over all objects by what they cost etcd: the bytes it keeps of each
// write until the API server compacts them. The unit is a full write, a link's status at its largest
// (fullWriteKB: a full dedupe window and sketch); a write counts by its size, so a fresh link's 3 KB
// status is about a ninth of one and a topic's token shard rewritten with its opt-ins counts in full.
// A token bucket of WritesPerSecond full writes a second, with a burst of one second's worth, and a pause
// the API server asks for with 429 and Retry-After.
type budget struct {
	lim *rate.Limiter // in KB; nil: no budget

	mu          sync.Mutex
	pausedUntil time.Time
}

// fullWriteKB is the size of a full write, the budget's unit.
const fullWriteKB = 27

func newBudget(fullWritesPerSecond float64) *budget {
	if fullWritesPerSecond < 0 {
		return &budget{}
	}
	kbPerSecond := fullWritesPerSecond * fullWriteKB
	return &budget{lim: rate.NewLimiter(rate.Limit(kbPerSecond), max(fullWriteKB, int(math.Ceil(kbPerSecond))))}
}

// costKB is what a write of that many bytes costs, at least 1 KB and at most the burst.
func (b *budget) costKB(bytes int) int {
	kb := max(1, (bytes+1023)/1024)
	if b.lim != nil {
		kb = min(kb, b.lim.Burst())
	}
	return kb
}

// wait blocks until a write estimated at kb may go, and reports true; or, when that would take longer
// than maxWait, reserves nothing and reports false at once, so that the parts waiting fail while they
// can still be answered in time.
func (b *budget) wait(kb int, maxWait time.Duration) bool {
	now := time.Now()
	b.mu.Lock()
	pause := b.pausedUntil.Sub(now)
	b.mu.Unlock()
	if pause > maxWait {
		return false
	}
	delay := max(pause, 0)
	if b.lim != nil {
		r := b.lim.ReserveN(now.Add(delay), b.costKB(kb*1024))
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

// charge takes what a write cost beyond its estimate; the writes that follow wait for it.
func (b *budget) charge(extraKB int) {
	if b.lim != nil && extraKB > 0 {
		b.lim.ReserveN(time.Now(), min(extraKB, b.lim.Burst()))
	}
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
