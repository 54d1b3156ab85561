package graphtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ControlPrefix is where ControlHandler serves. No Graph API path starts with it (they start with a
// version, such as /v25.0/), so one listener can serve both.
const ControlPrefix = "/_emulator/"

// ControlHandler lets a test in another process drive the emulator over HTTP, as tests in the same
// process call its methods (the demo's end-to-end check runs the graph-emulator binary):
//
//	POST ControlPrefix+"publish?page=ID&field=F"  body: the envelope  -> {"ids":[...]}   (Publish)
//	POST ControlPrefix+"resend?id=N"                                   -> {"id":M}       (Resend)
//	GET  ControlPrefix+"deliveries"                                    -> [WebhookDelivery...]
//	GET  ControlPrefix+"kill-switches"                                 -> [KillSwitch...]
//	GET  ControlPrefix+"subscriptions?page=ID"                         -> {"APP_ID":[fields...]}
//
// It is for tests on loopback only: it has no authentication.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ControlPrefix+"publish", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil || q.Get("page") == "" || q.Get("field") == "" || !json.Valid(body) {
			http.Error(w, "want ?page=ID&field=F and a JSON envelope as the body", http.StatusBadRequest)
			return
		}
		ids, err := s.Publish(q.Get("page"), q.Get("field"), json.RawMessage(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if ids == nil {
			ids = []int{} // no app subscribed for the field: nothing delivered
		}
		writeControl(w, map[string][]int{"ids": ids})
	})
	mux.HandleFunc("POST "+ControlPrefix+"resend", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, "want ?id=N", http.StatusBadRequest)
			return
		}
		n, err := s.Resend(id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeControl(w, map[string]int{"id": n})
	})
	mux.HandleFunc("GET "+ControlPrefix+"deliveries", func(w http.ResponseWriter, _ *http.Request) {
		writeControl(w, s.WebhookDeliveries())
	})
	mux.HandleFunc("GET "+ControlPrefix+"kill-switches", func(w http.ResponseWriter, _ *http.Request) {
		writeControl(w, s.KillSwitches())
	})
	mux.HandleFunc("GET "+ControlPrefix+"subscriptions", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, s.Subscriptions(r.URL.Query().Get("page")))
	})
	return mux
}

// Routed sends requests under ControlPrefix to ControlHandler and everything else to the Graph API.
func (s *Server) Routed() http.Handler {
	control := s.ControlHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, ControlPrefix) {
			control.ServeHTTP(w, r)
			return
		}
		s.ServeHTTP(w, r)
	})
}

func writeControl(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
