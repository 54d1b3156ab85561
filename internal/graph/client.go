// Package graph is the operator's client for Meta's Graph API: it sends the recurring-notification opt-in
// request (Send API) that registers a topic, reads and writes a Page's app subscription and Messenger
// Profile (page.go), classifies Graph errors into what a controller should do
// (Classify, Reason, RetryAfter), honours rate-limit headers by pausing calls per Page, and counts its
// requests in Prometheus metrics. It knows nothing of Kubernetes.
//
// The Page access token travels only in the Authorization header, never in a URL, and never appears in
// an error this package returns.
package graph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of a Client.
const (
	DefaultBaseURL       = "https://graph.facebook.com"
	DefaultAPIVersion    = "v23.0"
	DefaultTimeout       = 30 * time.Second
	DefaultThrottlePause = time.Minute
)

// Clock tells the time; tests inject a fake one to move through rate-limit pauses without sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Client calls Graph API. It is safe for concurrent use; one Client should serve all Pages, so that its
// per-Page rate-limit pauses are shared.
type Client struct {
	baseURL       string
	version       string
	http          *http.Client
	clock         Clock
	metrics       *Metrics
	throttlePause time.Duration
	userAgent     string
	limiter       *limiter
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL sets the Graph API root, e.g. an emulator's URL. Default https://graph.facebook.com.
func WithBaseURL(u string) Option { return func(c *Client) { c.baseURL = strings.TrimRight(u, "/") } }

// WithAPIVersion sets the default Graph API version, e.g. "v23.0".
func WithAPIVersion(v string) Option { return func(c *Client) { c.version = v } }

// WithHTTPClient sets the HTTP client (its timeout bounds each attempt). The client is copied; redirects
// are never followed, so that a redirect cannot carry the request elsewhere.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the clock used for rate-limit pauses.
func WithClock(clk Clock) Option { return func(c *Client) { c.clock = clk } }

// WithMetrics records every request in m.
func WithMetrics(m *Metrics) Option { return func(c *Client) { c.metrics = m } }

// WithThrottlePause sets how long a Page is paused after throttling when Graph API gives no regain time.
// Default 1m.
func WithThrottlePause(d time.Duration) Option { return func(c *Client) { c.throttlePause = d } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client; it fails on an invalid base URL or API version.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		baseURL:       DefaultBaseURL,
		version:       DefaultAPIVersion,
		clock:         realClock{},
		throttlePause: DefaultThrottlePause,
		userAgent:     "mmelink-operator",
		limiter:       newLimiter(),
	}
	for _, o := range opts {
		o(c)
	}
	u, err := url.Parse(c.baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("graph: base URL %q must be an absolute http(s) URL without a query", c.baseURL)
	}
	if !apiVersion.MatchString(c.version) {
		return nil, fmt.Errorf("graph: API version %q must look like v23.0", c.version)
	}
	if c.throttlePause <= 0 {
		c.throttlePause = DefaultThrottlePause
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if c.http != nil {
		copied := *c.http
		hc = &copied
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = hc
	return c, nil
}

// SendOptInRequest sends a recurring-notification opt-in request from the Page to req.RecipientID:
// POST /<version>/<pageID>/messages with the notification_messages template. It validates the request
// first, refuses to call while the Page is paused by rate limiting (*ThrottledError), and sends it once:
// retrying is the caller's decision. Errors are *ValidationError, *ThrottledError, *Error, or wrapped
// network errors; classify them with Classify and Reason.
func (c *Client) SendOptInRequest(ctx context.Context, pageID, pageToken string, req OptInRequest) (SendResult, error) {
	if err := checkPage(pageID, pageToken); err != nil {
		return SendResult{}, err
	}
	if err := req.Validate(); err != nil {
		return SendResult{}, err
	}
	body, err := req.body()
	if err != nil {
		return SendResult{}, fmt.Errorf("graph: encode opt-in request: %w", err)
	}
	version := req.APIVersion
	if version == "" {
		version = c.version
	}
	endpoint := c.baseURL + "/" + version + "/" + pageID + "/messages"
	res, err := c.post(ctx, ActionSendOptInRequest, pageID, pageToken, endpoint, body)
	return res, redact(err, pageToken)
}

func checkPage(pageID, token string) error {
	if !numericID.MatchString(pageID) {
		return &ValidationError{Field: "page id", Problem: "must be a numeric Page ID"}
	}
	if token == "" {
		return &ValidationError{Field: "access token", Problem: "is empty"}
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return &ValidationError{Field: "access token", Problem: "contains a character not allowed in a token"}
		}
	}
	return nil
}

// post sends a Send API body to endpoint and reads Meta's answer as a SendResult.
func (c *Client) post(ctx context.Context, action, pageID, token, endpoint string, body []byte) (SendResult, error) {
	resp, err := c.do(ctx, call{method: http.MethodPost, action: action, pageID: pageID, token: token,
		endpoint: endpoint, contentType: "application/json", body: body})
	if err != nil {
		return SendResult{}, err
	}
	if r, ok := parseSendResult(resp.body); ok {
		r.Usage = resp.usage
		return r, nil
	}
	// Meta accepted the request, but which message it became cannot be read.
	return SendResult{}, &UnknownOutcomeError{Err: &Error{HTTPStatus: resp.status, Message: "unreadable success answer",
		FBTraceID: resp.traceID}}
}

// call is one Graph API request.
type call struct {
	method, action, pageID, token, endpoint, contentType string
	body                                                 []byte
}

// response is a successful (2xx) answer.
type response struct {
	status  int
	body    []byte
	usage   Usage
	traceID string
}

// do sends a request once, unless the Page is paused. It never retries: its callers (the controllers)
// retry from status, through their per-Page rate limits, which retries inside a call would go around. A
// failure after a POST was written is an *UnknownOutcomeError: Meta may have acted on it.
func (c *Client) do(ctx context.Context, rq call) (response, error) {
	if d := c.limiter.remaining(rq.pageID, c.clock.Now()); d > 0 {
		return response{}, &ThrottledError{PageID: rq.pageID, RetryAfter: d}
	}
	var written atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { written.Store(i.Err == nil) }}
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), rq.method, rq.endpoint, body)
	if err != nil {
		return response{}, fmt.Errorf("graph: %s: build request: %w", rq.action, err)
	}
	hreq.Header.Set("Authorization", "Bearer "+rq.token)
	if rq.contentType != "" {
		hreq.Header.Set("Content-Type", rq.contentType)
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)

	// Counted here, where the answer is classified anyway: one count per request sent.
	start := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		c.metrics.observe(rq.action, start, Transient)
		err = fmt.Errorf("graph: %s: %w", rq.action, err)
		if written.Load() && rq.method != http.MethodGet {
			return response{}, &UnknownOutcomeError{Err: err}
		}
		return response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		c.metrics.observe(rq.action, start, Transient)
		err = fmt.Errorf("graph: %s: read answer (HTTP %d): %w", rq.action, resp.StatusCode, err)
		if rq.method == http.MethodGet {
			return response{}, err
		}
		return response{}, &UnknownOutcomeError{Err: err}
	}
	usage := ParseUsage(resp.Header)
	now := c.clock.Now()
	if usage.Exhausted() {
		c.limiter.pause(rq.pageID, now.Add(c.pauseFor(usage)))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		c.metrics.observe(rq.action, start, "")
		return response{status: resp.StatusCode, body: data, usage: usage, traceID: resp.Header.Get("X-Fb-Trace-Id")}, nil
	}
	gerr := parseError(resp.StatusCode, resp.Header, data)
	class, _ := classifyError(gerr)
	c.metrics.observe(rq.action, start, class)
	if class == Throttled {
		gerr.RetryAfter = c.pauseFor(usage)
		c.limiter.pause(rq.pageID, now.Add(gerr.RetryAfter))
	}
	return response{}, gerr
}

// pauseFor is the pause a throttled answer imposes: Meta's regain time when it gave one.
func (c *Client) pauseFor(u Usage) time.Duration {
	if d := u.RegainAfter(); d > 0 {
		return d
	}
	return c.throttlePause
}

// PausedFor reports how long calls for pageID remain paused by rate limiting (0 when they are not).
func (c *Client) PausedFor(pageID string) time.Duration {
	return c.limiter.remaining(pageID, c.clock.Now())
}
