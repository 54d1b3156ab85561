package controllers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultGraphPageRate is how many Send API calls per second the controller makes for one Page, across
// all its topics, unless Config.GraphPageRate says otherwise.
const DefaultGraphPageRate = 10.0

// pageLimiter spaces the Send API calls of each Page: a rate.Limiter per Page with a burst of one,
// shared by every topic of the Page (Graph API's limits are per Page, not per topic). A burst of one
// because Meta does not publish how much burst it tolerates, and evenly spaced calls never trip a limit
// of the same rate. A caller books its slot (a reservation), so callers never race for a token and the
// order of arrival is kept.
type pageLimiter struct {
	limit rate.Limit // rate.Inf: no limit

	mu    sync.Mutex
	pages map[string]*rate.Limiter
}

// newPageLimiter returns a limiter of perSecond calls per Page; perSecond <= 0 means no limit.
func newPageLimiter(perSecond float64) *pageLimiter {
	l := &pageLimiter{limit: rate.Inf, pages: make(map[string]*rate.Limiter)}
	if perSecond > 0 {
		l.limit = rate.Limit(perSecond)
	}
	return l
}

// delay tells how long a call for page made now would wait for its slot; it books nothing.
func (l *pageLimiter) delay(page string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.pages[page]
	if !ok {
		return 0
	}
	r := lim.ReserveN(now, 1)
	defer r.CancelAt(now)
	return r.DelayFrom(now)
}

// reserve books the next slot for page and returns its time, which is never before now.
func (l *pageLimiter) reserve(page string, now time.Time) time.Time {
	if l.limit == rate.Inf {
		return now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.pages[page]
	if !ok {
		if len(l.pages) >= 1024 {
			l.forgetIdle(now)
		}
		lim = rate.NewLimiter(l.limit, 1)
		l.pages[page] = lim
	}
	return now.Add(lim.ReserveN(now, 1).DelayFrom(now))
}

// forgetIdle drops Pages whose bucket is full again: a new limiter for them is the same.
func (l *pageLimiter) forgetIdle(now time.Time) {
	for page, lim := range l.pages {
		if lim.TokensAt(now) >= 1 {
			delete(l.pages, page)
		}
	}
}
