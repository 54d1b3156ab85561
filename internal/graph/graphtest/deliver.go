package graphtest

import (
	"context"
	"fmt"
	"time"
)

// Delivery records an automatic opt-in the emulator sent.
type Delivery struct {
	PageID string
	PSID   string
	Title  string
	// Status is the webhook's final HTTP status, 0 when it never answered.
	Status int
	// Attempts is how many posts were made.
	Attempts int
	// Err is the last error, "" on success.
	Err string
}

type autoConfirm struct {
	url, secret string
	delay       time.Duration
}

// autoConfirmAttempts bounds the posts of one automatic opt-in; Meta, too, gives up eventually.
const autoConfirmAttempts = 5

// AutoConfirm makes the emulator play the recipient of every successful opt-in request: after delay, it
// delivers that person's opt-in for the requested title to webhookURL, signed with appSecret, retrying a
// few times while the webhook fails. An empty webhookURL turns it off.
func (s *Server) AutoConfirm(webhookURL, appSecret string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if webhookURL == "" {
		s.confirm = nil
		return
	}
	s.confirm = &autoConfirm{url: webhookURL, secret: appSecret, delay: delay}
}

// Deliveries returns the automatic opt-ins completed so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

func (s *Server) scheduleOptin(c autoConfirm, ev OptinEvent) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := Delivery{PageID: ev.PageID, PSID: ev.PSID, Title: ev.Title}
		wait := c.delay
		for d.Attempts < autoConfirmAttempts {
			if !s.sleep(wait) {
				d.Err = "emulator closed"
				break
			}
			d.Attempts++
			ev.Time = s.now()
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			resp, err := Optin(ctx, c.url, c.secret, ev)
			cancel()
			if err == nil {
				d.Status = resp.StatusCode
				_ = resp.Body.Close()
				if d.Status >= 200 && d.Status < 300 {
					d.Err = ""
					break
				}
				err = fmt.Errorf("webhook answered HTTP %d", d.Status)
			}
			d.Err = err.Error()
			wait = max(2*wait, 100*time.Millisecond)
		}
		s.logf("graph-emulator: opt-in of %s to %q for page %s delivered: status=%d attempts=%d err=%q",
			d.PSID, d.Title, d.PageID, d.Status, d.Attempts, d.Err)
		s.mu.Lock()
		s.deliveries = append(s.deliveries, d)
		s.mu.Unlock()
	}()
}

// sleep waits d; false when the emulator is closing.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.ctx.Done():
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}
