// Package graphtest is an emulator of the parts of Meta's Graph API and Messenger webhooks that the
// operator uses, for tests and the local demo. It serves the Send API's recurring-notification opt-in
// request (POST /{version}/{page-id}/messages) and the Page's side (subscribed_apps and messenger_profile,
// with permissions per token and the profile's 10-calls-per-10-minutes limit) with Meta's checks, answers
// and error bodies, records every request, injects faults, throttling and rate limits on demand, plays the
// person who taps the opt-in button, and delivers Page events to the subscribed apps' callbacks as Meta
// does: retries, duplicates on demand, and the kill switch that unsubscribes an app whose deliveries fail.
//
// It does not import the operator's Graph client: it stands for Meta, and tests check the client against it.
package graphtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Request is one request the emulator received.
type Request struct {
	// Time is when it arrived, on the emulator's clock.
	Time time.Time
	// Method is the HTTP method.
	Method string
	// URL is the request URI as received: path and query. A token in it is a bug the tests look for.
	URL string
	// Version and PageID come from the path; empty when the path did not match.
	Version string
	PageID  string
	// Edge is "subscribed_apps" or "messenger_profile" for the Page endpoints, "" for the Send API.
	Edge string
	// Header holds the request headers; the Authorization value is replaced by "[REDACTED]".
	Header http.Header
	// TokenSource says where the access token came from: "header", "query", or "" when absent.
	TokenSource string
	// Body is the raw body.
	Body []byte
	// Send is the parsed body, nil when it was not a JSON object.
	Send *SendRequest
	// Status is the HTTP status answered, 0 when the connection was dropped.
	Status int
	// ErrorCode and ErrorSubcode are the Graph error answered, 0 on success.
	ErrorCode    int
	ErrorSubcode int
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the emulator's clock (weekly rule, throttling, rate limits, event timestamps).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithLogger logs one line per request and per delivery (never a token or a secret).
func WithLogger(logf func(format string, args ...any)) Option {
	return func(s *Server) { s.logf = logf }
}

// WithNestedSuccess answers successes in the second shape Meta documents,
// {"recipient":{"id","message_id"}}, instead of {"recipient_id","message_id"}.
func WithNestedSuccess() Option { return func(s *Server) { s.nested = true } }

// Server is the emulator. Created by New it listens on a local port (URL); created by NewHandler it is
// an http.Handler to serve anywhere. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the listening server (New only), e.g. "http://127.0.0.1:41234".
	URL string

	ts     *httptest.Server
	now    func() time.Time
	logf   func(format string, args ...any)
	nested bool

	mu         sync.Mutex
	pages      map[string]string // page ID -> token
	requests   []*Request
	faults     []*faultEntry
	throttles  map[string]time.Time // page ID -> end of throttling
	usage      map[string]int       // page ID -> usage percent reported
	limits     map[string]*rate.Limiter
	stats      map[string]*rateStats
	sent       map[titleKey]time.Time // weekly rule: last accepted request
	msgSeq     uint64
	traceSeq   uint64
	confirm    *autoConfirm
	deliveries []Delivery

	tokens        map[string]*tokenInfo
	invalidated   map[string]int // revoked or expired token -> the 190 subcode that says why
	pageStates    map[string]*pageState
	profileLimit  int
	profileWindow time.Duration
	webhooks      webhookState
	apps          map[string]*App

	wg sync.WaitGroup
	// ctx ends when the emulator closes; it bounds automatic opt-ins and programmed latency.
	ctx    context.Context
	cancel context.CancelFunc
}

// New starts an emulator on a local port; Close stops it.
func New(opts ...Option) *Server {
	s := NewHandler(opts...)
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	return s
}

// NewHandler returns an emulator that does not listen; serve it with any http.Server.
func NewHandler(opts ...Option) *Server {
	s := &Server{
		now:       time.Now,
		logf:      func(string, ...any) {},
		pages:     make(map[string]string),
		throttles: make(map[string]time.Time),
		usage:     make(map[string]int),
		limits:    make(map[string]*rate.Limiter),
		stats:     make(map[string]*rateStats),
		sent:      make(map[titleKey]time.Time),

		tokens:        make(map[string]*tokenInfo),
		invalidated:   make(map[string]int),
		pageStates:    make(map[string]*pageState),
		profileLimit:  ProfileCallLimit,
		profileWindow: ProfileCallWindow,
		webhooks:      newWebhookState(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	return s
}

// Client returns an HTTP client for the listening server (New only; http.DefaultClient otherwise).
func (s *Server) Client() *http.Client {
	if s.ts == nil {
		return http.DefaultClient
	}
	return s.ts.Client()
}

// Close stops pending automatic opt-ins, waits for those under way, and stops the listening server.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
	if s.ts != nil {
		s.ts.Close()
	}
}

// AddPage makes a Page known, reachable with the given access token, which is issued to DefaultAppID
// with every permission (AllPermissions).
func (s *Server) AddPage(pageID, token string) {
	s.AddPageToken(pageID, token, TokenOptions{Permissions: AllPermissions})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[pageID] = token
}

// WithProfileLimit changes Meta's Messenger Profile limit (10 calls per 10 minutes per Page).
func WithProfileLimit(calls int, window time.Duration) Option {
	return func(s *Server) { s.profileLimit, s.profileWindow = calls, window }
}

// Requests returns a copy of the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = *r
	}
	return out
}

// Reset forgets requests, faults, throttling, usage, rate limits, the weekly rule's memory, the profile
// calls counted against Meta's limit and deliveries; pages, tokens, subscriptions, profiles, apps and
// automatic opt-ins stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.faults = nil
	s.throttles = make(map[string]time.Time)
	s.usage = make(map[string]int)
	s.limits = make(map[string]*rate.Limiter)
	s.stats = make(map[string]*rateStats)
	s.sent = make(map[titleKey]time.Time)
	s.deliveries = nil
	for _, ps := range s.pageStates {
		ps.profileCalls = nil
	}
}

// ServeHTTP answers Graph API requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Request{
		Time:   s.now(),
		Method: r.Method,
		URL:    r.URL.RequestURI(),
		Header: r.Header.Clone(),
		Body:   body,
	}
	if rec.Header.Get("Authorization") != "" {
		rec.Header.Set("Authorization", "[REDACTED]")
	}
	rec.Send = parseSend(body)
	token, source := requestToken(r)
	rec.TokenSource = source

	// Recorded on arrival, so that a test sees a request whose connection was dropped as soon as its
	// client does; serve fills in the path fields and the answer under the lock.
	s.mu.Lock()
	s.requests = append(s.requests, &rec)
	s.mu.Unlock()

	aw := &answer{ResponseWriter: w}
	s.serve(aw, r, &rec, token)
	s.mu.Lock()
	rec.Status, rec.ErrorCode, rec.ErrorSubcode = aw.status, aw.code, aw.subcode
	s.mu.Unlock()
	s.logf("graph-emulator: %s %s page=%s -> %d code=%d/%d", rec.Method, r.URL.Path, rec.PageID,
		rec.Status, rec.ErrorCode, rec.ErrorSubcode)
}

// requestToken finds the access token as Graph API would: the Authorization header (Bearer or OAuth),
// else the access_token query parameter.
func requestToken(r *http.Request) (token, source string) {
	if h := r.Header.Get("Authorization"); h != "" {
		for _, scheme := range []string{"Bearer ", "OAuth "} {
			if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
				return strings.TrimSpace(h[len(scheme):]), "header"
			}
		}
		return "", "header"
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t, "query"
	}
	return "", ""
}

// answer remembers what was written, for the request record.
type answer struct {
	http.ResponseWriter
	status, code, subcode int
}

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *answer) Unwrap() http.ResponseWriter { return a.ResponseWriter }
