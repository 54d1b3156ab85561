package controllers

import (
	"sync"
	"time"
)

// DefaultGraphPageRate is how many Send API calls per second the controller makes for one Page, across
// all its topics, unless Config.GraphPageRate says otherwise.
const DefaultGraphPageRate = 10.0

// pageLimiter spaces the Send API calls of each Page: a token bucket of one token, refilled at rate
// per second, shared by every topic of the Page (Graph API's limits are per Page, not per topic). A
// bucket of one rather than a burst because Meta does not publish how much burst it tolerates, and
// evenly spaced calls never trip a limit of the same rate.
//
// It books slots in virtual time (GCRA): a caller learns when its call may go and the slot is its own, so
// callers never race for a token and the order of arrival is kept.
type pageLimiter struct {
	interval time.Duration // 0: no limit

	mu   sync.Mutex
	next map[string]time.Time // page ID -> earliest time of the next call
}

// newPageLimiter returns a limiter of perSecond calls per Page; perSecond <= 0 means no limit.
func newPageLimiter(perSecond float64) *pageLimiter {
	l := &pageLimiter{next: make(map[string]time.Time)}
	if perSecond > 0 {
		l.interval = time.Duration(float64(time.Second) / perSecond)
	}
	return l
}

// delay tells how long a call for page made now would wait for its slot; it books nothing.
func (l *pageLimiter) delay(page string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.next[page].Sub(now), 0)
}

// reserve books the next slot for page and returns its time, which is never before now.
func (l *pageLimiter) reserve(page string, now time.Time) time.Time {
	if l.interval == 0 {
		return now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	slot := now
	if n := l.next[page]; n.After(now) {
		slot = n
	}
	l.next[page] = slot.Add(l.interval)
	if len(l.next) > 1024 {
		l.forgetIdle(now)
	}
	return slot
}

// forgetIdle drops Pages whose next slot has passed: their bucket is full again, as if never used.
func (l *pageLimiter) forgetIdle(now time.Time) {
	for page, next := range l.next {
		if !next.After(now) {
			delete(l.next, page)
		}
	}
}
