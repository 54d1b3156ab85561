package graphtest

import (
	"fmt"
	"net/http"
	"time"
)

// Match selects the requests a fault applies to; empty fields match anything.
type Match struct {
	PageID      string
	RecipientID string
	Title       string
}

// Fault is a programmed misbehaviour.
type Fault struct {
	// Code and Subcode make the answer a Graph error with these codes. With Code 0 and a HTTPStatus, the
	// answer is that status with a plain, non-Graph body (like a proxy's 502 page).
	Code    int
	Subcode int
	// HTTPStatus of the answer. Default for Graph errors: Meta's for the code (500 for 1 and 2, 403 for
	// permission errors, 400 otherwise).
	HTTPStatus int
	// IsTransient sets "is_transient": true in the error body whatever the code; by default it is set for
	// the codes Meta marks so (outages and throttling).
	IsTransient bool
	// Type, Message, UserTitle and UserMessage fill the error body; defaults resemble Meta's for the code.
	Type        string
	Message     string
	UserTitle   string
	UserMessage string
	// Header is added to the answer (e.g. usage headers).
	Header http.Header
	// Latency delays the answer. A fault with only Latency delays the request, which then proceeds.
	Latency time.Duration
	// CloseConnection drops the connection without any answer, after the request was received: the client
	// cannot know whether it was processed.
	CloseConnection bool
	// Times is how many requests the fault affects; 0 means every request until ClearFaults.
	Times int
}

type call struct{ page, recipient, title string }

type faultEntry struct {
	match     func(call) bool
	fault     Fault
	remaining int // < 0: forever
}

// SetFault applies f to the requests that m selects. Faults are consulted in the order they were set.
func (s *Server) SetFault(m Match, f Fault) {
	s.addFault(func(c call) bool {
		return (m.PageID == "" || m.PageID == c.page) &&
			(m.RecipientID == "" || m.RecipientID == c.recipient) &&
			(m.Title == "" || m.Title == c.title)
	}, f)
}

// FailNext makes the next n requests whose Page ID or recipient ID equals target (any request when target
// is empty) fail with the Graph error code/subcode and HTTP status (0: the code's usual status). With
// code 0 they fail with httpStatus and a plain, non-Graph body.
func (s *Server) FailNext(target string, code, subcode, httpStatus, n int) {
	if n <= 0 {
		return
	}
	s.addFault(func(c call) bool {
		return target == "" || target == c.page || target == c.recipient
	}, Fault{Code: code, Subcode: subcode, HTTPStatus: httpStatus, Times: n})
}

func (s *Server) addFault(match func(call) bool, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	remaining := f.Times
	if remaining <= 0 {
		remaining = -1
	}
	s.faults = append(s.faults, &faultEntry{match: match, fault: f, remaining: remaining})
}

// ClearFaults removes every programmed fault (throttling and rate limits stay).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the effect for a request: the latencies of all matching faults added up, and the
// first matching fault that changes the answer. Every fault it uses loses one of its Times.
func (s *Server) takeFault(c call) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out *Fault
	var latency time.Duration
	kept := s.faults[:0]
	for _, e := range s.faults {
		used := false
		if e.match(c) {
			latency += e.fault.Latency
			used = true
			if effective(e.fault) {
				if out == nil {
					f := e.fault
					out = &f
				} else {
					used = false // a later error fault waits for its turn
				}
			}
		}
		if used && e.remaining > 0 {
			e.remaining--
		}
		if e.remaining != 0 {
			kept = append(kept, e)
		}
	}
	clear(s.faults[len(kept):])
	s.faults = kept
	if out == nil && latency > 0 {
		out = &Fault{}
	}
	if out != nil {
		out.Latency = latency
	}
	return out
}

// effective reports whether a fault changes the answer (rather than only delaying it).
func effective(f Fault) bool { return f.Code != 0 || f.HTTPStatus != 0 || f.CloseConnection }

// applyFault answers as f says; false when f only delays and the request proceeds.
func (s *Server) applyFault(w *answer, f *Fault) bool {
	switch {
	case f.CloseConnection:
		if conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack(); err == nil {
			_ = conn.Close()
		}
		return true
	case f.Code == 0 && f.HTTPStatus == 0:
		return false
	case f.Code == 0:
		for k, vs := range f.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.HTTPStatus)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.HTTPStatus, http.StatusText(f.HTTPStatus))
		return true
	}
	e := graphError{status: f.HTTPStatus, code: f.Code, subcode: f.Subcode, typ: f.Type, message: f.Message,
		userTitle: f.UserTitle, userMessage: f.UserMessage, header: f.Header, transient: f.IsTransient}
	if e.message == "" {
		e.message = defaultMessage(f.Code, f.Subcode)
	}
	s.writeError(w, e)
	return true
}
