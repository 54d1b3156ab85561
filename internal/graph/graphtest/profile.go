package graphtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The Messenger Profile (/me/messenger_profile): get_started and whitelisted_domains, within Meta's
// limit of ProfileCallLimit calls per ProfileCallWindow per Page.

// Profile returns a Page's Get Started payload (ok false: no button) and domain allowlist.
func (s *Server) Profile(pageID string) (getStarted string, ok bool, domains []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pageStates[pageID]
	if ps == nil {
		return "", false, nil
	}
	if raw, has := ps.profile["get_started"]; has {
		var gs struct{ Payload string }
		_ = json.Unmarshal(raw, &gs)
		getStarted, ok = gs.Payload, true
	}
	if raw, has := ps.profile["whitelisted_domains"]; has {
		_ = json.Unmarshal(raw, &domains)
	}
	return getStarted, ok, domains
}

// SetProfile changes a Page's profile as a bot would, without a request: a non-nil getStarted sets the
// button ("" removes it), non-nil domains replace the allowlist (empty removes it).
func (s *Server) SetProfile(pageID string, getStarted *string, domains []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pageStateLocked(pageID)
	if getStarted != nil {
		if *getStarted == "" {
			delete(ps.profile, "get_started")
		} else {
			ps.profile["get_started"], _ = json.Marshal(map[string]string{"payload": *getStarted})
		}
	}
	if domains != nil {
		if len(domains) == 0 {
			delete(ps.profile, "whitelisted_domains")
		} else {
			ps.profile["whitelisted_domains"], _ = json.Marshal(domains)
		}
	}
}

// ProfileCalls counts the messenger_profile requests a Page received (answered or refused).
func (s *Server) ProfileCalls(pageID string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.PageID == pageID && r.Edge == "messenger_profile" {
			n++
		}
	}
	return n
}

func (s *Server) serveProfile(w *answer, r *http.Request, rec *Request, ti *tokenInfo) {
	if !hasPerm(ti, PermMessaging) {
		s.writeError(w, missingPermission(230, PermMessaging))
		return
	}
	if e := s.profileBudget(ti.page); e != nil {
		s.writeError(w, *e)
		return
	}
	switch r.Method {
	case http.MethodGet:
		want := strings.Split(r.URL.Query().Get("fields"), ",")
		if want[0] == "" {
			s.writeError(w, graphError{code: 100, message: "(#100) The parameter fields is required"})
			return
		}
		s.mu.Lock()
		obj := map[string]json.RawMessage{}
		for k, v := range s.pageStateLocked(ti.page).profile {
			if slices.Contains(want, k) {
				obj[k] = v
			}
		}
		s.mu.Unlock()
		data := []any{}
		if len(obj) > 0 {
			data = append(data, obj)
		}
		s.writeJSON(w, ti.page, "messenger_profile", map[string]any{"data": data})
	case http.MethodPost:
		var set map[string]json.RawMessage
		if json.Unmarshal(rec.Body, &set) != nil || len(set) == 0 {
			s.writeError(w, graphError{code: 100, message: "(#100) Requires one of the params: get_started, whitelisted_domains, greeting, persistent_menu, ice_breakers"})
			return
		}
		if e := validateProfile(set); e != nil {
			s.writeError(w, *e)
			return
		}
		s.mu.Lock()
		ps := s.pageStateLocked(ti.page)
		for k, v := range set {
			ps.profile[k] = v // a field is replaced whole, as Meta does
		}
		s.mu.Unlock()
		s.writeJSON(w, ti.page, "messenger_profile", map[string]any{"result": "success"})
	case http.MethodDelete:
		var del struct {
			Fields []string `json:"fields"`
		}
		if json.Unmarshal(rec.Body, &del) != nil || len(del.Fields) == 0 {
			s.writeError(w, graphError{code: 100, message: "(#100) The parameter fields is required"})
			return
		}
		s.mu.Lock()
		ps := s.pageStateLocked(ti.page)
		for _, f := range del.Fields {
			delete(ps.profile, f)
		}
		s.mu.Unlock()
		s.writeJSON(w, ti.page, "messenger_profile", map[string]any{"result": "success"})
	default:
		s.writeError(w, graphError{code: 100, message: "Unsupported " + strings.ToLower(r.Method) + " request."})
	}
}

// profileBudget applies Meta's 10 calls per 10 minutes per Page to messenger_profile; refused calls do
// not count.
func (s *Server) profileBudget(pageID string) *graphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.pageStateLocked(pageID)
	now := s.now()
	ps.profileCalls = slices.DeleteFunc(ps.profileCalls, func(t time.Time) bool { return now.Sub(t) >= s.profileWindow })
	if len(ps.profileCalls) >= s.profileLimit {
		return &graphError{code: 613, message: "(#613) Calls to this api have exceeded the rate limit.",
			userTitle:   "Messenger Profile rate limit reached",
			userMessage: fmt.Sprintf("A Page may make %d Messenger Profile calls per %s.", s.profileLimit, s.profileWindow)}
	}
	ps.profileCalls = append(ps.profileCalls, now)
	return nil
}

// validateProfile checks get_started and whitelisted_domains as Meta does.
func validateProfile(set map[string]json.RawMessage) *graphError {
	if raw, ok := set["get_started"]; ok {
		var gs struct {
			Payload *string `json:"payload"`
		}
		if json.Unmarshal(raw, &gs) != nil || gs.Payload == nil || *gs.Payload == "" {
			return invalid("get_started[payload]", "is required")
		}
		if len(*gs.Payload) > 1000 {
			return invalid("get_started[payload]", "must be at most 1000 characters long")
		}
	}
	if raw, ok := set["whitelisted_domains"]; ok {
		var domains []string
		if json.Unmarshal(raw, &domains) != nil {
			return invalid("whitelisted_domains", "must be an array")
		}
		if len(domains) > MaxDomains {
			return &graphError{code: 100, message: fmt.Sprintf("(#100) whitelisted_domains can have at most %d domains", MaxDomains)}
		}
		for i, d := range domains {
			if problem := domainProblem(d); problem != "" {
				return &graphError{code: 100, message: fmt.Sprintf("(#100) whitelisted_domains[%d] %s", i, problem)}
			}
		}
	}
	return nil
}

// domainProblem says why Meta refuses a domain: https only, a fully qualified name, no IP, no localhost.
func domainProblem(d string) string {
	u, err := url.Parse(d)
	switch {
	case err != nil || u.Host == "":
		return "should represent a valid URL"
	case u.Scheme != "https":
		return "should be a https URL"
	}
	host := u.Hostname()
	switch {
	case net.ParseIP(host) != nil:
		return "should be a domain, not an IP address"
	case host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return "should be a public domain, not localhost"
	case !strings.Contains(strings.Trim(host, "."), "."):
		return "should be a fully qualified domain"
	}
	return ""
}

// ResetProfileCalls forgets the messenger_profile calls counted against a Page's limit, as the passing of
// Meta's window would.
func (s *Server) ResetProfileCalls(pageID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps := s.pageStates[pageID]; ps != nil {
		ps.profileCalls = nil
	}
}
