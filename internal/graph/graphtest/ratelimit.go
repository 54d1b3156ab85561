package graphtest

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// RateStats describes the requests a Page received (every request with a valid path counts).
type RateStats struct {
	// Requests is how many arrived.
	Requests int
	// Rejected is how many were refused by the rate limit or throttling.
	Rejected int
	// MaxPerSecond is the most that arrived within any one second.
	MaxPerSecond int
}

type rateStats struct {
	RateStats
	window []time.Time // arrivals within the last second
}

func (r *rateStats) observe(now time.Time) {
	r.Requests++
	cut := 0
	for cut < len(r.window) && now.Sub(r.window[cut]) >= time.Second {
		cut++
	}
	r.window = append(r.window[cut:], now)
	r.MaxPerSecond = max(r.MaxPerSecond, len(r.window))
}

// SetRateLimit limits a Page to perSecond requests per second with bursts of up to burst (at least 1);
// requests beyond it fail with code 32 and usage headers at 100 percent. perSecond <= 0 removes the limit.
func (s *Server) SetRateLimit(pageID string, perSecond float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perSecond <= 0 {
		delete(s.limits, pageID)
		return
	}
	s.limits[pageID] = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// RateStats returns what a Page received so far.
func (s *Server) RateStats(pageID string) RateStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stats[pageID]; st != nil {
		return st.RateStats
	}
	return RateStats{}
}

// Throttle makes every request for a Page fail with its business use case's throttling code for
// regainMinutes of the emulator's clock: 80006 (Messenger) for the Send API and the Messenger Profile,
// 80001 (Pages) for subscribed_apps, with X-Business-Use-Case-Usage of that type
// (estimated_time_to_regain_access counting down) and X-Page-Usage at 100 percent. regainMinutes <= 0
// ends throttling.
func (s *Server) Throttle(pageID string, regainMinutes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if regainMinutes <= 0 {
		delete(s.throttles, pageID)
		return
	}
	s.throttles[pageID] = s.now().Add(time.Duration(regainMinutes) * time.Minute)
}

// SetUsage sets the usage percentage reported in X-App-Usage and X-Business-Use-Case-Usage on a Page's
// answers (0 by default). At 100, Meta expects callers to stop.
func (s *Server) SetUsage(pageID string, percent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage[pageID] = percent
}

// useCase is the business use case Meta counts a call against (the type in X-Business-Use-Case-Usage)
// and the code it answers when that use case is throttled: Page endpoints are the Pages API, the Send
// API and the Messenger Profile the Messenger Platform.
func useCase(edge string) (typ string, code int) {
	if edge == "subscribed_apps" {
		return "pages", 80001
	}
	return "messenger", 80006
}

// admit counts an arrival and applies throttling and the rate limit.
func (s *Server) admit(page, edge string) (graphError, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := s.stats[page]
	if st == nil {
		st = &rateStats{}
		s.stats[page] = st
	}
	st.observe(now)
	if until, ok := s.throttles[page]; ok {
		if left := until.Sub(now); left > 0 {
			st.Rejected++
			_, code := useCase(edge)
			return graphError{code: code, message: defaultMessage(code, 0),
				userTitle:   "Page rate limit reached",
				userMessage: "Too many calls were made for this Page. Please wait and try again.",
				header:      exhaustedHeaders(page, edge, int(math.Ceil(left.Minutes())))}, true
		}
		delete(s.throttles, page)
	}
	if b := s.limits[page]; b != nil && !b.AllowN(now, 1) {
		st.Rejected++
		return graphError{code: 32, message: "(#32) Page request limit reached",
			userTitle:   "Page request limit reached",
			userMessage: "This Page made too many calls. Please wait and try again.",
			header:      exhaustedHeaders(page, edge, 0)}, true
	}
	return graphError{}, false
}

// usageHeaders are the rate-limit headers of a normal answer for page on edge ("" for the Send API).
func (s *Server) usageHeaders(page, edge string) http.Header {
	s.mu.Lock()
	p := s.usage[page]
	s.mu.Unlock()
	h := http.Header{}
	h.Set("X-App-Usage", counts(p))
	h.Set("X-Business-Use-Case-Usage", buc(page, edge, p, 0))
	return h
}

// exhaustedHeaders are the headers of a throttled answer.
func exhaustedHeaders(page, edge string, regainMinutes int) http.Header {
	h := http.Header{}
	h.Set("X-Page-Usage", counts(100))
	h.Set("X-Business-Use-Case-Usage", buc(page, edge, 100, regainMinutes))
	return h
}

func counts(p int) string {
	return fmt.Sprintf(`{"call_count":%d,"total_cputime":%d,"total_time":%d}`, p, p, p)
}

func buc(page, edge string, p, regainMinutes int) string {
	typ, _ := useCase(edge)
	return fmt.Sprintf(`{%s:[{"type":%s,"call_count":%d,"total_cputime":%d,"total_time":%d,`+
		`"estimated_time_to_regain_access":%d}]}`, jsonString(page), jsonString(typ), p, p, p, regainMinutes)
}
