package graphtest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // validate notification_messages_timezone even where the system has no zoneinfo
	"unicode/utf8"

	"github.com/mmelink/operator/internal/metawebhook"
)

// SendRequest is the parsed body of a Send API request.
type SendRequest struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Message struct {
		Text       string      `json:"text,omitempty"`
		Attachment *Attachment `json:"attachment,omitempty"`
	} `json:"message"`
}

// Attachment is message.attachment of a Send API request.
type Attachment struct {
	Type    string          `json:"type"`
	Payload TemplatePayload `json:"payload"`
}

// TemplatePayload is the payload of a notification_messages template.
type TemplatePayload struct {
	TemplateType     string `json:"template_type"`
	Title            string `json:"title"`
	Payload          string `json:"payload,omitempty"`
	ImageURL         string `json:"image_url,omitempty"`
	ImageAspectRatio string `json:"image_aspect_ratio,omitempty"`
	Timezone         string `json:"notification_messages_timezone,omitempty"`
	CTAText          string `json:"notification_messages_cta_text,omitempty"`
}

// Week is how long Meta refuses a second opt-in request with the same title to the same person.
const Week = 7 * 24 * time.Hour

var (
	ctaTexts     = []string{"ALLOW", "GET", "GET_UPDATES", "OPT_IN", "SIGN_UP"}
	aspectRatios = []string{"HORIZONTAL", "SQUARE"}
	versionRE    = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	numericRE    = regexp.MustCompile(`^[0-9]+$`)
)

type titleKey struct{ page, recipient, title string }

func parseSend(body []byte) *SendRequest {
	var sr SendRequest
	if json.Unmarshal(body, &sr) != nil {
		return nil
	}
	return &sr
}

func parsePath(p string) (version, page string, ok bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) != 3 || parts[2] != "messages" || !versionRE.MatchString(parts[0]) || !numericRE.MatchString(parts[1]) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// serve runs Meta's checks in order: path, programmed faults, method, token, page, rate limit,
// throttling, body, weekly rule; then answers success.
func (s *Server) serve(w *answer, r *http.Request, rec *Request, token string) {
	if s.servePageEdge(w, r, rec, token) {
		return
	}
	version, pageID, ok := parsePath(r.URL.Path)
	if !ok {
		s.writeError(w, graphError{code: 2500, message: "Unknown path components: " + r.URL.Path})
		return
	}
	s.mu.Lock()
	rec.Version, rec.PageID = version, pageID
	s.mu.Unlock()
	var c call
	c.page = pageID
	if rec.Send != nil {
		c.recipient = rec.Send.Recipient.ID
		if a := rec.Send.Message.Attachment; a != nil {
			c.title = a.Payload.Title
		}
	}
	if f := s.takeFault(c); f != nil {
		if !s.wait(r, f.Latency) {
			return
		}
		if s.applyFault(w, f) {
			return
		}
	}
	if r.Method != http.MethodPost {
		s.writeError(w, graphError{code: 100, message: fmt.Sprintf(
			"Unsupported %s request. Object with ID '%s' does not support this operation.", strings.ToLower(r.Method), pageID)})
		return
	}
	if token == "" {
		s.writeError(w, graphError{code: 190, message: "An access token is required to request this resource."})
		return
	}
	s.mu.Lock()
	expected, known := s.pages[pageID]
	if ti := s.tokens[token]; ti != nil && ti.page == pageID {
		expected = token // another token of the Page (AddPageToken)
	}
	s.mu.Unlock()
	if !known {
		s.writeError(w, graphError{code: 100, subcode: 33, message: fmt.Sprintf("Unsupported post request. Object with ID "+
			"'%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", pageID)})
		return
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(expected)) != 1 {
		s.writeError(w, s.badToken(token))
		return
	}
	if e, limited := s.admit(pageID, ""); limited {
		s.writeError(w, e)
		return
	}
	if e := validateSend(rec.Send); e != nil {
		e.header = s.usageHeaders(pageID, "")
		s.writeError(w, *e)
		return
	}
	if e := s.weeklyRule(pageID, c.recipient, c.title); e != nil {
		e.header = s.usageHeaders(pageID, "")
		s.writeError(w, *e)
		return
	}
	s.succeed(w, pageID, rec.Send)
}

// wait sleeps for a fault's latency; false when the client or the emulator gave up meanwhile.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

func invalid(param, problem string) *graphError {
	return &graphError{code: 100, message: fmt.Sprintf("(#100) Param %s %s", param, problem)}
}

// validateSend checks a notification_messages opt-in request as Meta does, naming the parameter at fault.
func validateSend(sr *SendRequest) *graphError {
	if sr == nil || sr.Recipient.ID == "" {
		return &graphError{code: 100, message: "(#100) The parameter recipient is required"}
	}
	if !numericRE.MatchString(sr.Recipient.ID) {
		return &graphError{code: 100, subcode: 2018001, message: "(#100) No matching user found"}
	}
	a := sr.Message.Attachment
	if a == nil {
		return invalid("message[attachment]", "is required: the emulator serves notification_messages templates only")
	}
	if a.Type != "template" {
		return invalid("message[attachment][type]", "must be one of {template}")
	}
	p := a.Payload
	const pp = "message[attachment][payload]"
	switch {
	case p.TemplateType != "notification_messages":
		return invalid(pp+"[template_type]", "must be one of {notification_messages}")
	case strings.TrimSpace(p.Title) == "":
		return invalid(pp+"[title]", "is required")
	case utf8.RuneCountInString(p.Title) > 65:
		return invalid(pp+"[title]", "must be at most 65 characters long")
	case p.CTAText != "" && !slices.Contains(ctaTexts, p.CTAText):
		return invalid(pp+"[notification_messages_cta_text]", "must be one of {"+strings.Join(ctaTexts, ", ")+"}")
	case p.ImageAspectRatio != "" && !slices.Contains(aspectRatios, p.ImageAspectRatio):
		return invalid(pp+"[image_aspect_ratio]", "must be one of {"+strings.Join(aspectRatios, ", ")+"}")
	}
	if p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" {
			return invalid(pp+"[notification_messages_timezone]", "must be a valid timezone")
		}
	}
	if p.ImageURL != "" {
		if u, err := url.Parse(p.ImageURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid(pp+"[image_url]", "must be a valid URL")
		}
	}
	return nil
}

// weeklyRule refuses a second request with the same title to the same person within a week.
func (s *Server) weeklyRule(page, recipient, title string) *graphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := titleKey{page, recipient, title}
	if last, ok := s.sent[k]; ok && s.now().Sub(last) < Week {
		return &graphError{code: 613, subcode: 1893016,
			message:     "(#613) Calls to this api have exceeded the rate limit.",
			userTitle:   "Notification request limit reached",
			userMessage: "Only one notification request with the same title can be sent to a person per week."}
	}
	s.sent[k] = s.now()
	return nil
}

// succeed answers Meta's success shape and, when configured, has the person opt in.
func (s *Server) succeed(w *answer, page string, sr *SendRequest) {
	s.mu.Lock()
	s.msgSeq++
	mid := metawebhook.MessageID(strconv.FormatUint(s.msgSeq, 10))
	confirm := s.confirm
	s.mu.Unlock()

	var body []byte
	if s.nested {
		body, _ = json.Marshal(map[string]any{"recipient": map[string]string{"id": sr.Recipient.ID, "message_id": mid}})
	} else {
		body, _ = json.Marshal(map[string]string{"recipient_id": sr.Recipient.ID, "message_id": mid})
	}
	for k, vs := range s.usageHeaders(page, "") {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)

	if confirm != nil {
		p := sr.Message.Attachment.Payload
		s.scheduleOptin(*confirm, OptinEvent{PageID: page, PSID: sr.Recipient.ID, Title: p.Title,
			Payload: p.Payload, Timezone: p.Timezone})
	}
}

func jsonString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}
