package graphtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Permissions a Page token can carry; the Page endpoints check them as Meta does.
const (
	PermManageMetadata = "pages_manage_metadata"
	PermShowList       = "pages_show_list"
	PermMessaging      = "pages_messaging"
)

// AllPermissions is what AddPage grants a token.
var AllPermissions = []string{PermManageMetadata, PermShowList, PermMessaging}

// DefaultAppID is the app of tokens added without one (AddPage).
const DefaultAppID = "1234567890"

// Meta's Messenger Profile limits.
const (
	ProfileCallLimit  = 10
	ProfileCallWindow = 10 * time.Minute
	MaxDomains        = 50
)

// KnownFields are the webhook fields the emulator accepts in subscribed_fields.
var KnownFields = []string{"messages", "messaging_postbacks", "messaging_optins", "messaging_referrals",
	"message_deliveries", "message_reads", "message_echoes", "messaging_handovers", "messaging_policy_enforcement",
	"messaging_account_linking", "message_reactions", "message_edits", "messaging_optouts", "standby", "feed",
	"inbox_labels", "messaging_customer_information", "messaging_feedback", "response_feedback", "messaging_seen",
	"send_cart", "calls"}

// TokenOptions describe a Page token: the app it was issued to and its permissions.
type TokenOptions struct {
	// AppID is the app whose subscription the token's subscribed_apps writes change. Default DefaultAppID.
	AppID string
	// Permissions granted; nil grants none.
	Permissions []string
}

type tokenInfo struct {
	page, app string
	perms     []string
}

// pageState is what Meta keeps for a Page besides its token.
type pageState struct {
	apps         []string            // subscribed app IDs, in subscription order
	fields       map[string][]string // app ID -> subscribed fields
	profile      map[string]json.RawMessage
	profileCalls []time.Time
}

func (s *Server) pageStateLocked(pageID string) *pageState {
	ps := s.pageStates[pageID]
	if ps == nil {
		ps = &pageState{fields: map[string][]string{}, profile: map[string]json.RawMessage{}}
		s.pageStates[pageID] = ps
	}
	return ps
}

// AddPageToken makes a Page known with one more token, issued to an app with the given permissions.
func (s *Server) AddPageToken(pageID, token string, o TokenOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.AppID == "" {
		o.AppID = DefaultAppID
	}
	if _, ok := s.pages[pageID]; !ok {
		s.pages[pageID] = token
	}
	s.tokens[token] = &tokenInfo{page: pageID, app: o.AppID, perms: slices.Clone(o.Permissions)}
	delete(s.invalidated, token)
	s.pageStateLocked(pageID)
}

// SetPermissions replaces a token's permissions (a person changing what the token was granted).
func (s *Server) SetPermissions(token string, perms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ti := s.tokens[token]; ti != nil {
		ti.perms = slices.Clone(perms)
	}
}

// RevokeToken makes a token invalid as a password change does: calls with it fail with 190/460.
func (s *Server) RevokeToken(token string) { s.invalidateToken(token, 460) }

// ExpireToken makes a token invalid as its expiry does: calls with it fail with 190/463.
func (s *Server) ExpireToken(token string) { s.invalidateToken(token, 463) }

func (s *Server) invalidateToken(token string, subcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
	for id, t := range s.pages {
		if t == token {
			s.pages[id] = ""
		}
	}
	s.invalidated[token] = subcode
}

// badToken is Meta's answer to a token it does not accept: why it was invalidated, or that it cannot
// be parsed.
func (s *Server) badToken(token string) graphError {
	s.mu.Lock()
	sub := s.invalidated[token]
	s.mu.Unlock()
	if sub == 0 {
		return graphError{code: 190, message: msgCannotParse}
	}
	return graphError{code: 190, subcode: sub, message: defaultMessage(190, sub)}
}

// Subscriptions returns the apps subscribed to a Page and their fields.
func (s *Server) Subscriptions(pageID string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	if ps := s.pageStates[pageID]; ps != nil {
		for _, a := range ps.apps {
			out[a] = slices.Clone(ps.fields[a])
		}
	}
	return out
}

// Subscribe sets an app's fields on a Page as someone else (the App Dashboard, another tool) would; nil
// fields unsubscribe it. It is not a request and not recorded.
func (s *Server) Subscribe(pageID, appID string, fields []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setSubscriptionLocked(s.pageStateLocked(pageID), appID, fields)
}

func (s *Server) setSubscriptionLocked(ps *pageState, appID string, fields []string) {
	if fields == nil {
		ps.apps = slices.DeleteFunc(ps.apps, func(a string) bool { return a == appID })
		delete(ps.fields, appID)
		return
	}
	if !slices.Contains(ps.apps, appID) {
		ps.apps = append(ps.apps, appID)
	}
	ps.fields[appID] = slices.Clone(fields)
}

// pageEdge matches /{version}/{page-id|me}/{subscribed_apps|messenger_profile}.
var pageEdge = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9]+|me)/(subscribed_apps|messenger_profile)/?$`)

// servePageEdge answers the Page endpoints; false when the path is not one of them.
func (s *Server) servePageEdge(w *answer, r *http.Request, rec *Request, token string) bool {
	m := pageEdge.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return false
	}
	version, node, edge := m[1], m[2], m[3]
	s.mu.Lock()
	ti := s.tokens[token]
	pageID := node
	if node == "me" && ti != nil {
		pageID = ti.page
	}
	rec.Version, rec.PageID, rec.Edge = version, pageID, edge
	s.mu.Unlock()

	if f := s.takeFault(call{page: pageID}); f != nil {
		if !s.wait(r, f.Latency) {
			return true
		}
		if s.applyFault(w, f) {
			return true
		}
	}
	switch {
	case token == "":
		s.writeError(w, graphError{code: 190, message: "An active access token must be used to query information about the current user."})
		return true
	case ti == nil:
		s.writeError(w, s.badToken(token))
		return true
	case node != "me" && node != ti.page:
		s.writeError(w, graphError{code: 100, subcode: 33, message: fmt.Sprintf("Unsupported %s request. Object with ID "+
			"'%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.",
			strings.ToLower(r.Method), node)})
		return true
	}
	if e, limited := s.admit(pageID, edge); limited {
		s.writeError(w, e)
		return true
	}
	if edge == "subscribed_apps" {
		s.serveSubscribedApps(w, r, rec, ti)
	} else {
		s.serveProfile(w, r, rec, ti)
	}
	return true
}

func hasPerm(ti *tokenInfo, perms ...string) bool {
	for _, p := range perms {
		if slices.Contains(ti.perms, p) {
			return true
		}
	}
	return false
}

func missingPermission(code int, perm string) graphError {
	return graphError{status: http.StatusForbidden, code: code,
		message: fmt.Sprintf("(#%d) Requires %s permission to manage the object", code, perm)}
}

func (s *Server) serveSubscribedApps(w *answer, r *http.Request, rec *Request, ti *tokenInfo) {
	switch r.Method {
	case http.MethodGet:
		if !hasPerm(ti, PermShowList, PermManageMetadata) {
			s.writeError(w, missingPermission(200, PermShowList))
			return
		}
		s.mu.Lock()
		ps := s.pageStateLocked(ti.page)
		data := make([]map[string]any, 0, len(ps.apps))
		for _, a := range ps.apps {
			data = append(data, map[string]any{"id": a, "name": s.appName(a), "link": "https://www.facebook.com/games/?app_id=" + a,
				"category": "Business", "subscribed_fields": slices.Clone(ps.fields[a])})
		}
		s.mu.Unlock()
		s.writeJSON(w, ti.page, "subscribed_apps", map[string]any{"data": data})
	case http.MethodPost:
		if !hasPerm(ti, PermManageMetadata) {
			s.writeError(w, missingPermission(200, PermManageMetadata))
			return
		}
		fields, e := subscribedFields(r, rec.Body)
		if e != nil {
			s.writeError(w, *e)
			return
		}
		s.mu.Lock()
		s.setSubscriptionLocked(s.pageStateLocked(ti.page), ti.app, fields)
		s.mu.Unlock()
		s.writeJSON(w, ti.page, "subscribed_apps", map[string]any{"success": true})
	case http.MethodDelete:
		if !hasPerm(ti, PermManageMetadata) {
			s.writeError(w, missingPermission(200, PermManageMetadata))
			return
		}
		s.mu.Lock()
		s.setSubscriptionLocked(s.pageStateLocked(ti.page), ti.app, nil)
		s.mu.Unlock()
		s.writeJSON(w, ti.page, "subscribed_apps", map[string]any{"success": true})
	default:
		s.writeError(w, graphError{code: 100, message: "Unsupported " + strings.ToLower(r.Method) + " request."})
	}
}

// subscribedFields reads subscribed_fields from the query or a form or JSON body: a comma-separated list
// or a JSON array, as Meta accepts.
func subscribedFields(r *http.Request, body []byte) ([]string, *graphError) {
	raw := r.URL.Query().Get("subscribed_fields")
	if raw == "" {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var b struct {
				SubscribedFields json.RawMessage `json:"subscribed_fields"`
			}
			if json.Unmarshal(body, &b) == nil {
				raw = strings.Trim(string(b.SubscribedFields), `"`)
			}
		} else if v, err := url.ParseQuery(string(body)); err == nil {
			raw = v.Get("subscribed_fields")
		}
	}
	if raw == "" {
		return nil, &graphError{code: 100, message: "(#100) The parameter subscribed_fields is required"}
	}
	var fields []string
	if strings.HasPrefix(raw, "[") {
		if json.Unmarshal([]byte(raw), &fields) != nil {
			return nil, invalid("subscribed_fields", "must be an array of strings")
		}
	} else {
		for _, f := range strings.Split(raw, ",") {
			fields = append(fields, strings.TrimSpace(f))
		}
	}
	var out []string
	for _, f := range fields {
		if !slices.Contains(KnownFields, f) {
			return nil, invalid("subscribed_fields["+f+"]", "must be one of {"+strings.Join(KnownFields, ", ")+"}")
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (s *Server) appName(id string) string {
	if a := s.apps[id]; a != nil && a.Name != "" {
		return a.Name
	}
	return "App " + id
}

// writeJSON answers 200 with v and the Page's usage headers for edge.
func (s *Server) writeJSON(w *answer, pageID, edge string, v any) {
	body, _ := json.Marshal(v)
	for k, vs := range s.usageHeaders(pageID, edge) {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
