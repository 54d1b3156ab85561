package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/status"
)

// Paths the server answers; anything else is 404.
const (
	PathWebhook = "/webhook"
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
)

// allowedMethods is the Allow header of a 405 from PathWebhook.
const allowedMethods = "GET, HEAD, POST"

// EventReceived is the body of a 200 answer to a delivery, as in Meta's examples.
const EventReceived = "EVENT_RECEIVED"

// resultMetrics are the series of one delivery result, looked up once rather than per request.
type resultMetrics struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathWebhook:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			// HEAD is GET without the body (RFC 9110, section 9.3.2), as net/http's own mux serves it:
			// the same status and headers, which net/http sends without the echoed challenge.
			s.serveHandshake(w, r)
		case http.MethodPost:
			s.serveDelivery(w, r)
		default:
			start := time.Now()
			w.Header().Set("Allow", allowedMethods)
			http.Error(w, "method not allowed: use GET (handshake) or POST (delivery)", http.StatusMethodNotAllowed)
			s.observe(ResultBadMethod, start)
		}
	case PathHealthz:
		writeText(w, http.StatusOK, "ok")
	case PathReadyz:
		if err := s.ReadyCheck(r); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeText(w, http.StatusOK, "ok")
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) observe(result string, start time.Time) {
	m := s.results[result]
	m.count.Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

func (s *Server) serveDelivery(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.observe(s.handleDelivery(w, r, start), start)
}

// handleDelivery answers one POST and returns its result label. The order of the checks matters: nothing
// of the body is looked at before its signature is verified, and nothing is acknowledged before the
// Writer has stored it.
func (s *Server) handleDelivery(w http.ResponseWriter, r *http.Request, start time.Time) string {
	b, err := s.readBody(w, r)
	switch {
	case errors.Is(err, errTooLarge):
		http.Error(w, "request body larger than "+strconv.FormatInt(s.maxBodyBytes, 10)+" bytes", http.StatusRequestEntityTooLarge)
		return ResultTooLarge
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many request bodies in flight, retry later", http.StatusServiceUnavailable)
		return ResultBusy
	case err != nil:
		s.log.V(1).Info("could not read delivery body", "error", err.Error())
		http.Error(w, "could not read request body", http.StatusBadRequest)
		return ResultReadError
	}
	// Held until the answer: the body is in memory until then. Nothing below keeps a reference to its
	// bytes past this function (delivery.Parse copies what it keeps).
	defer b.release()
	body := b.bytes
	if err := s.signatures.Verify(body, r.Header.Get(delivery.SignatureHeader)); err != nil {
		// The delivery package's errors never hold the secret or the expected MAC.
		s.log.V(1).Info("rejected delivery", "reason", err.Error())
		http.Error(w, "missing or invalid "+delivery.SignatureHeader+" header", http.StatusUnauthorized)
		return ResultBadSignature
	}
	// From Meta: the connection is no longer one to evict at the connection cap.
	markVerified(r.Context())
	d, err := delivery.Parse(body)
	if err != nil {
		// Signed, so Meta's: acknowledged, not refused. Meta would resend the same bytes, which would
		// never parse, for an hour and then unsubscribe the app from the Page, stopping every delivery;
		// what this one held is lost either way. The metric (and its alert) and this log say so. Parse
		// errors name a JSON path or a syntax error, never a secret.
		s.log.Info("malformed delivery acknowledged and not counted", "error", err.Error(), "bytes", len(body))
		writeText(w, http.StatusOK, EventReceived)
		return ResultMalformed
	}
	if d.Object != delivery.ObjectPage {
		writeText(w, http.StatusOK, EventReceived)
		return ResultIgnoredObject
	}
	s.countEvents(d)
	if len(d.Events) == 0 {
		writeText(w, http.StatusOK, EventReceived)
		return ResultOK
	}
	if !s.cacheReady() {
		http.Error(w, "not ready: cache not synced", http.StatusServiceUnavailable)
		return ResultUnavailable
	}

	ctx, cancel := context.WithDeadline(r.Context(), start.Add(s.commitTimeout))
	defer cancel()
	items, err := s.resolve(ctx, d.Events)
	if err == nil && len(items) > 0 {
		err = s.commit(ctx, items)
	}
	if err != nil {
		// Info, not error: the API server or the database is slow or away, Meta delivers again, and the
		// metrics say how often; a stack trace per delivery would flood the log during an outage.
		s.log.Info("delivery not stored; answering 503 so that Meta delivers it again", "events", len(d.Events), "error", err.Error())
		s.recordHealth(d, false)
		http.Error(w, "could not store the delivery in time, retry later", http.StatusServiceUnavailable)
		return ResultUnavailable
	}
	s.recordHealth(d, true)
	writeText(w, http.StatusOK, EventReceived)
	return ResultOK
}

// recordHealth tells the Page health tracker how a delivery was answered, once per Page in it.
func (s *Server) recordHealth(d *delivery.Delivery, stored bool) {
	if s.health == nil {
		return
	}
	now := time.Now()
	seen := make(map[string]bool, 1)
	for i := range d.Events {
		page := d.Events[i].PageID
		if page == "" || seen[page] {
			continue
		}
		seen[page] = true
		if stored {
			s.health.Answered(page, now)
		} else {
			s.health.Refused(page, now)
		}
	}
}

// countEvents records a verified page delivery in the event metrics.
func (s *Server) countEvents(d *delivery.Delivery) {
	s.metrics.batch.Observe(float64(len(d.Events) + d.Ignored + d.Skipped))
	if d.Ignored > 0 {
		s.metrics.untracked.Add(float64(d.Ignored))
	}
	if d.Skipped > 0 {
		s.metrics.skipped.Add(float64(d.Skipped))
		s.log.V(1).Info("skipped events of a shape the webhook server cannot read", "events", d.Skipped)
	}
	for i := range d.Events {
		s.metrics.eventCounter(d.Events[i].Kind).Inc()
	}
}

// commit hands items to the Writer. It is called in the request's goroutine: the Writer's contract is to
// return by ctx's deadline, and a Writer that broke it would delay only this answer, which Meta then
// times out and retries like a 503.
func (s *Server) commit(ctx context.Context, items []status.Item) error {
	if err := s.writer.Write(ctx, items); err != nil {
		return fmt.Errorf("storing %d attributed events: %w", len(items), err)
	}
	return nil
}

// writeText writes a text/plain answer. nosniff keeps a browser from reading an echoed challenge as HTML.
func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body) //nolint:gosec // G705: text/plain with nosniff; the handshake must echo hub.challenge
}
