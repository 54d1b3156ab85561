package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Rate-limit headers Graph API sends with its answers.
const (
	HeaderAppUsage             = "X-App-Usage"
	HeaderPageUsage            = "X-Page-Usage"
	HeaderBusinessUseCaseUsage = "X-Business-Use-Case-Usage"
)

// maxRegain caps a regain time read from a header, so that a garbled value cannot stop a Page for days.
const maxRegain = 24 * time.Hour

// UsageCounts is the content of X-App-Usage and X-Page-Usage: percentages of the hourly allowance.
type UsageCounts struct {
	CallCount    float64
	TotalTime    float64
	TotalCPUTime float64
	// RegainAccessIn is estimated_time_to_regain_access (minutes), which Meta documents only for
	// X-Business-Use-Case-Usage; honoured here too when present, since it can only lengthen a pause.
	RegainAccessIn time.Duration
}

// Max returns the highest of the three percentages.
func (u UsageCounts) Max() float64 {
	return max(u.CallCount, u.TotalTime, u.TotalCPUTime)
}

// BusinessUseCaseUsage is one entry of X-Business-Use-Case-Usage.
type BusinessUseCaseUsage struct {
	// Type is the use case, e.g. "messenger".
	Type         string
	CallCount    float64
	TotalTime    float64
	TotalCPUTime float64
	// RegainAccessIn is estimated_time_to_regain_access (sent in minutes).
	RegainAccessIn time.Duration
}

// Usage is what the rate-limit headers of one answer said. Headers that are absent or malformed are left
// out (nil or empty): they never cause an error.
type Usage struct {
	App  *UsageCounts
	Page *UsageCounts
	// BusinessUseCase maps a business object ID (for Messenger, the Page ID) to its entries.
	BusinessUseCase map[string][]BusinessUseCaseUsage
}

// MaxPercent returns the highest percentage in any header.
func (u Usage) MaxPercent() float64 {
	var m float64
	for _, c := range []*UsageCounts{u.App, u.Page} {
		if c != nil {
			m = max(m, c.Max())
		}
	}
	for _, entries := range u.BusinessUseCase {
		for _, e := range entries {
			m = max(m, e.CallCount, e.TotalTime, e.TotalCPUTime)
		}
	}
	return m
}

// RegainAfter returns the longest estimated time to regain access in the headers (in practice
// X-Business-Use-Case-Usage).
func (u Usage) RegainAfter() time.Duration {
	var d time.Duration
	for _, c := range []*UsageCounts{u.App, u.Page} {
		if c != nil {
			d = max(d, c.RegainAccessIn)
		}
	}
	for _, entries := range u.BusinessUseCase {
		for _, e := range entries {
			d = max(d, e.RegainAccessIn)
		}
	}
	return d
}

// Exhausted reports whether calls must stop: some usage reached 100 percent or a regain time was given.
func (u Usage) Exhausted() bool {
	return u.MaxPercent() >= 100 || u.RegainAfter() > 0
}

// ParseUsage reads the rate-limit headers of an answer.
func ParseUsage(h http.Header) Usage {
	var u Usage
	u.App = parseCounts(h.Get(HeaderAppUsage))
	u.Page = parseCounts(h.Get(HeaderPageUsage))
	u.BusinessUseCase = parseBUC(h.Get(HeaderBusinessUseCaseUsage))
	return u
}

// number accepts a JSON number or a numeric string; Meta documents numbers, but tolerance costs nothing.
type number float64

func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a finite number")
	}
	*n = number(f)
	return nil
}

// id returns n as an error code or subcode: a positive whole number below 2^31.
func (n number) id() (int, bool) {
	f := float64(n)
	if f < 1 || f >= 1<<31 || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// percent keeps a header's percentage within [0, 1000] so that nonsense cannot overflow anything.
func (n number) percent() float64 {
	return min(max(float64(n), 0), 1000)
}

type countsJSON struct {
	CallCount    number `json:"call_count"`
	TotalTime    number `json:"total_time"`
	TotalCPUTime number `json:"total_cputime"`
	Regain       number `json:"estimated_time_to_regain_access"`
}

// regain turns estimated_time_to_regain_access (minutes) into a duration within [0, maxRegain].
func (n number) regain() time.Duration {
	m := min(max(float64(n), 0), maxRegain.Minutes())
	return time.Duration(m * float64(time.Minute))
}

func parseCounts(v string) *UsageCounts {
	if v == "" {
		return nil
	}
	var c countsJSON
	if json.Unmarshal([]byte(v), &c) != nil {
		return nil
	}
	return &UsageCounts{CallCount: c.CallCount.percent(), TotalTime: c.TotalTime.percent(),
		TotalCPUTime: c.TotalCPUTime.percent(), RegainAccessIn: c.Regain.regain()}
}

func parseBUC(v string) map[string][]BusinessUseCaseUsage {
	if v == "" {
		return nil
	}
	var raw map[string][]struct {
		Type string `json:"type"`
		countsJSON
	}
	if json.Unmarshal([]byte(v), &raw) != nil || len(raw) == 0 {
		return nil
	}
	out := make(map[string][]BusinessUseCaseUsage, len(raw))
	for id, entries := range raw {
		for _, e := range entries {
			out[id] = append(out[id], BusinessUseCaseUsage{
				Type:           e.Type,
				CallCount:      e.CallCount.percent(),
				TotalTime:      e.TotalTime.percent(),
				TotalCPUTime:   e.TotalCPUTime.percent(),
				RegainAccessIn: e.Regain.regain(),
			})
		}
	}
	return out
}

// limiter remembers until when calls for each Page are paused.
type limiter struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newLimiter() *limiter {
	return &limiter{until: make(map[string]time.Time)}
}

// remaining returns how long calls for page are still paused at now (0 when they are not).
func (l *limiter) remaining(page string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.until[page]
	if !ok {
		return 0
	}
	if d := until.Sub(now); d > 0 {
		return d
	}
	delete(l.until, page) // expired: forget it so the map stays small
	return 0
}

// pause stops calls for page until the given time; an existing longer pause is kept.
func (l *limiter) pause(page string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur, ok := l.until[page]; !ok || until.After(cur) {
		l.until[page] = until
	}
}
