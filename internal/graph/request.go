package graph

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxTitleLength is the longest topic title Meta accepts, in characters.
const MaxTitleLength = 65

// CTATexts are the values Meta accepts for notification_messages_cta_text.
var CTATexts = []string{"ALLOW", "GET", "GET_UPDATES", "OPT_IN", "SIGN_UP"}

// ImageAspectRatios are the values Meta accepts for image_aspect_ratio.
var ImageAspectRatios = []string{"HORIZONTAL", "SQUARE"}

var (
	numericID  = regexp.MustCompile(`^[0-9]{1,32}$`)
	apiVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,3}$`)
	timezone   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$`)
)

// OptInRequest is a recurring-notification opt-in request (the notification_messages template): the
// message that asks a person to subscribe to a topic. Sending it to a person with a role on the app
// registers the topic once that person taps the button.
type OptInRequest struct {
	// RecipientID is the person's Page-scoped ID (PSID). Required, numeric.
	RecipientID string
	// Title is the topic, at most 65 characters. Required.
	Title string
	// Payload is echoed back in the opt-in webhook. Optional.
	Payload string
	// ImageURL is an absolute http(s) URL of the image shown with the request. Optional.
	ImageURL string
	// ImageAspectRatio is HORIZONTAL or SQUARE. Optional.
	ImageAspectRatio string
	// Timezone is the IANA zone used for the notification window. Default "UTC".
	Timezone string
	// CTAText is the button text: ALLOW, GET, GET_UPDATES, OPT_IN or SIGN_UP. Optional (Meta's default).
	CTAText string
	// APIVersion overrides the client's Graph API version for this call, e.g. "v23.0". Optional.
	APIVersion string
}

// Validate checks the request as Graph API would, naming the first offending field.
func (r OptInRequest) Validate() error {
	switch {
	case r.RecipientID == "":
		return &ValidationError{Field: "recipient.id", Problem: "is required"}
	case !numericID.MatchString(r.RecipientID):
		return &ValidationError{Field: "recipient.id", Problem: "must be a numeric Page-scoped ID"}
	case strings.TrimSpace(r.Title) == "":
		return &ValidationError{Field: "title", Problem: "is required"}
	case !utf8.ValidString(r.Title):
		return &ValidationError{Field: "title", Problem: "must be valid UTF-8"}
	case utf8.RuneCountInString(r.Title) > MaxTitleLength:
		return &ValidationError{Field: "title", Problem: fmt.Sprintf("must be at most %d characters (got %d)",
			MaxTitleLength, utf8.RuneCountInString(r.Title))}
	case r.CTAText != "" && !slices.Contains(CTATexts, r.CTAText):
		return &ValidationError{Field: "notification_messages_cta_text",
			Problem: fmt.Sprintf("must be one of %s (got %q)", strings.Join(CTATexts, ", "), r.CTAText)}
	case r.ImageAspectRatio != "" && !slices.Contains(ImageAspectRatios, r.ImageAspectRatio):
		return &ValidationError{Field: "image_aspect_ratio",
			Problem: fmt.Sprintf("must be one of %s (got %q)", strings.Join(ImageAspectRatios, ", "), r.ImageAspectRatio)}
	case r.Timezone != "" && !timezone.MatchString(r.Timezone):
		return &ValidationError{Field: "notification_messages_timezone", Problem: "must be an IANA time zone name"}
	case r.APIVersion != "" && !apiVersion.MatchString(r.APIVersion):
		return &ValidationError{Field: "api version", Problem: fmt.Sprintf("must look like v23.0 (got %q)", r.APIVersion)}
	}
	if r.ImageURL != "" {
		u, err := url.Parse(r.ImageURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &ValidationError{Field: "image_url", Problem: "must be an absolute http(s) URL"}
		}
	}
	return nil
}

// sendBody is the JSON body of the Send API request.
type sendBody struct {
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Message struct {
		Attachment struct {
			Type    string          `json:"type"`
			Payload templatePayload `json:"payload"`
		} `json:"attachment"`
	} `json:"message"`
}

type templatePayload struct {
	TemplateType     string `json:"template_type"`
	Title            string `json:"title"`
	Payload          string `json:"payload,omitempty"`
	ImageURL         string `json:"image_url,omitempty"`
	ImageAspectRatio string `json:"image_aspect_ratio,omitempty"`
	Timezone         string `json:"notification_messages_timezone"`
	CTAText          string `json:"notification_messages_cta_text,omitempty"`
}

func (r OptInRequest) body() ([]byte, error) {
	var b sendBody
	b.Recipient.ID = r.RecipientID
	b.Message.Attachment.Type = "template"
	tz := r.Timezone
	if tz == "" {
		tz = "UTC"
	}
	b.Message.Attachment.Payload = templatePayload{
		TemplateType:     "notification_messages",
		Title:            r.Title,
		Payload:          r.Payload,
		ImageURL:         r.ImageURL,
		ImageAspectRatio: r.ImageAspectRatio,
		Timezone:         tz,
		CTAText:          r.CTAText,
	}
	return json.Marshal(b)
}

// SendResult is Graph API's answer to a successful Send API call.
type SendResult struct {
	// RecipientID is the PSID the message went to.
	RecipientID string
	// MessageID is the ID of the message sent.
	MessageID string
	// Usage is what the answer's rate-limit headers said.
	Usage Usage
}

// parseSendResult reads both success shapes Meta documents: {"recipient_id","message_id"} and
// {"recipient":{"id","message_id"}}.
func parseSendResult(body []byte) (SendResult, bool) {
	var raw struct {
		RecipientID string `json:"recipient_id"`
		MessageID   string `json:"message_id"`
		Recipient   *struct {
			ID        string `json:"id"`
			MessageID string `json:"message_id"`
		} `json:"recipient"`
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &raw) != nil || raw.Error != nil {
		return SendResult{}, false
	}
	res := SendResult{RecipientID: raw.RecipientID, MessageID: raw.MessageID}
	if raw.Recipient != nil {
		res.RecipientID = cmp.Or(res.RecipientID, raw.Recipient.ID)
		res.MessageID = cmp.Or(res.MessageID, raw.Recipient.MessageID)
	}
	return res, res.MessageID != "" || res.RecipientID != ""
}
