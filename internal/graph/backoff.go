package graph

import (
	"math/rand/v2"
	"time"
)

// Backoff computes exponentially growing, jittered, bounded waits from an attempt count. The controller
// keeps the attempt count in status, so the schedule survives restarts; the client uses its own Backoff
// for the few retries it makes within one call.
type Backoff struct {
	// Base is the wait after the first failure. Default 1s.
	Base time.Duration
	// Max bounds every wait. Default 5m.
	Max time.Duration
	// Jitter is the fraction (0 to 1) by which a wait may be shortened at random, so that many objects
	// failing together do not retry together. Default 0.2; a negative value disables jitter.
	Jitter float64
	// Rand returns a number in [0, 1); tests set it to make waits deterministic. Default math/rand/v2.
	Rand func() float64
}

// DefaultBackoff is the schedule for the controller: 1s, 2s, 4s, ... up to 5m, 20 percent jitter.
func DefaultBackoff() Backoff {
	return Backoff{Base: time.Second, Max: 5 * time.Minute, Jitter: 0.2}
}

// Duration returns the wait after the attempt-th consecutive failure (1 for the first; smaller values
// count as 1): Base*2^(attempt-1), at most Max, shortened by up to Jitter of itself.
func (b Backoff) Duration(attempt int) time.Duration {
	base, limit, jitter := b.Base, b.Max, b.Jitter
	if base <= 0 {
		base = time.Second
	}
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	if jitter == 0 {
		jitter = 0.2
	}
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2 // stops at limit, so it cannot overflow
	}
	d = min(d, limit)
	if jitter > 0 {
		r := rand.Float64 // jitter needs no cryptographic randomness
		if b.Rand != nil {
			r = b.Rand
		}
		d -= time.Duration(min(jitter, 1) * r() * float64(d))
	}
	return d
}

// Delay tells a caller when to try again after err at the attempt-th consecutive failure: retry is false
// for permanent errors; for throttling it is at least the wait Graph API asked for.
func (b Backoff) Delay(err error, attempt int) (d time.Duration, retry bool) {
	if c := Classify(err); c == "" || c == Permanent {
		return 0, false
	}
	d = b.Duration(attempt)
	if after, ok := RetryAfter(err); ok && after > d {
		d = after
	}
	return d, true
}
