// Package loadgen is an open-loop HTTP load generator: deliveries are sent at a fixed arrival rate
// whatever the server answers, as Meta sends webhooks, and each one's latency is counted from the time
// the schedule meant to send it. A closed loop (N senders, each waiting for its answer before the next)
// slows down with the server and hides the queueing a real sender's traffic builds up; measuring from the
// actual send time hides it too (coordinated omission). The package knows nothing of what it sends.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Delivery is one request's body and headers.
type Delivery struct {
	Body   []byte
	Header http.Header
}

// Config describes one run.
type Config struct {
	// URL receives every delivery as a POST.
	URL string
	// Rate is the arrival rate in deliveries per second: delivery i is due at t0 + i/Rate.
	Rate float64
	// Duration bounds the schedule: Rate × Duration deliveries are sent. The run then waits for the
	// answers still outstanding (at most Timeout, or Retry.Cap in retry mode).
	Duration time.Duration
	// Delivery returns delivery i. It is called for every i before the clock starts, so that producing
	// (and signing) deliveries is not part of the load; all Rate × Duration of them are held in memory.
	Delivery func(i int) Delivery
	// MaxInFlight bounds the deliveries outstanding at once; a delivery due while that many are
	// outstanding is not sent and counts as NotStarted. Default 4096.
	MaxInFlight int
	// Timeout bounds one attempt. Default 10s.
	Timeout time.Duration
	// Retry, when set, resends every delivery not answered 200 until it is, as Meta does.
	Retry *Retry
}

// Retry is Meta-style redelivery: every answer other than 200 (and every failed request) is followed by
// the same delivery again after a backoff, until a 200 or until Cap has passed since the delivery was due.
type Retry struct {
	// Backoff is the first wait; it doubles up to MaxBackoff. Defaults 10ms and 500ms.
	Backoff, MaxBackoff time.Duration
	// Cap bounds a delivery's attempts, counted from the time it was due. Default 30s.
	Cap time.Duration
}

func (c *Config) defaults() error {
	if c.URL == "" || c.Delivery == nil {
		return errors.New("loadgen: URL and Delivery are required")
	}
	if c.Rate <= 0 || c.Duration <= 0 {
		return fmt.Errorf("loadgen: rate %v and duration %s must be positive", c.Rate, c.Duration)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 4096
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if r := c.Retry; r != nil {
		if r.Backoff <= 0 {
			r.Backoff = 10 * time.Millisecond
		}
		if r.MaxBackoff <= 0 {
			r.MaxBackoff = 500 * time.Millisecond
		}
		if r.Cap <= 0 {
			r.Cap = 30 * time.Second
		}
	}
	return nil
}

// Run sends the schedule and returns what happened. It returns early, with what was measured so far,
// when ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	w, err := newWire(cfg.URL, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	n := int(cfg.Rate * cfg.Duration.Seconds())
	requests := make([][]byte, n)
	for i := range requests {
		if requests[i], err = render(cfg.URL, cfg.Delivery(i)); err != nil {
			return nil, err
		}
	}
	// Thousands of idle connections would otherwise hold their file descriptors (two each on loopback)
	// into the caller's next run.
	defer w.close()
	rec := newRecorder(n)
	slots := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	t0 := time.Now()
	var last time.Time // when the last delivery was started
	for i := range n {
		due := t0.Add(time.Duration(i) * interval)
		// Sleep until the next one is due; when behind (sleep overshoots, or the scheduler was
		// descheduled) send everything due at once rather than shift the schedule.
		if wait := time.Until(due); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			n = i
			break
		}
		last = time.Now()
		rec.lag(last.Sub(due))
		select {
		case slots <- struct{}{}:
		default:
			rec.notStarted()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			send(ctx, &cfg, w, requests[i], due, rec)
		}()
	}
	wg.Wait()
	span := max(last.Sub(t0)+interval, cfg.Duration)
	if n == 0 {
		span = cfg.Duration
	}
	return rec.result(n, span), ctx.Err()
}

// send makes the delivery's attempts and records its outcome.
func send(ctx context.Context, cfg *Config, w *wire, raw []byte, due time.Time, rec *recorder) {
	backoff := time.Duration(0)
	if cfg.Retry != nil {
		backoff = cfg.Retry.Backoff
	}
	for attempt := 0; ; attempt++ {
		code, err := w.post(ctx, raw)
		rec.answer(code, err)
		if code == http.StatusOK || cfg.Retry == nil {
			rec.done(code == http.StatusOK, false, time.Since(due), attempt)
			return
		}
		// Give up once the next attempt would start past the cap.
		if time.Since(due)+backoff > cfg.Retry.Cap || ctx.Err() != nil {
			rec.done(false, true, time.Since(due), attempt)
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, cfg.Retry.MaxBackoff)
	}
}
