package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Actions of the Page calls, as metrics label them.
const (
	ActionGetSubscribedApps    = "get_subscribed_apps"
	ActionSubscribeApp         = "subscribe_app"
	ActionUnsubscribeApp       = "unsubscribe_app"
	ActionGetMessengerProfile  = "get_messenger_profile"
	ActionSetMessengerProfile  = "set_messenger_profile"
	ActionDeleteMessengerField = "delete_messenger_profile"
)

// Permissions a Page token needs for the Page calls; PermissionDenied conditions name them.
const (
	PermissionManageMetadata = "pages_manage_metadata" // subscribed_apps writes
	PermissionShowList       = "pages_show_list"       // subscribed_apps reads
	PermissionMessaging      = "pages_messaging"       // messenger_profile
)

// Messenger Profile fields the operator reads and writes.
const (
	ProfileGetStarted         = "get_started"
	ProfileWhitelistedDomains = "whitelisted_domains"
)

var webhookField = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// SubscribedApp is one app subscribed to a Page, as GET /{page-id}/subscribed_apps lists it.
type SubscribedApp struct {
	ID               string   `json:"id"`
	Name             string   `json:"name,omitempty"`
	Link             string   `json:"link,omitempty"`
	Category         string   `json:"category,omitempty"`
	SubscribedFields []string `json:"subscribed_fields,omitempty"`
}

// SubscribedApps lists the apps subscribed to the Page: GET /<version>/<pageID>/subscribed_apps.
func (c *Client) SubscribedApps(ctx context.Context, pageID, pageToken string) ([]SubscribedApp, error) {
	if err := checkPage(pageID, pageToken); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, call{method: http.MethodGet, action: ActionGetSubscribedApps, pageID: pageID,
		token: pageToken, endpoint: c.pageURL(pageID, "subscribed_apps")})
	if err != nil {
		return nil, redact(err, pageToken)
	}
	var out struct {
		Data []SubscribedApp `json:"data"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, &Error{HTTPStatus: resp.status, Message: "unreadable subscribed_apps answer", FBTraceID: resp.traceID}
	}
	return out.Data, nil
}

// SubscribeApp subscribes the token's app to the Page for exactly fields (Meta replaces the app's field
// list): POST /<version>/<pageID>/subscribed_apps with subscribed_fields. Pass the union of what the app
// holds and what it needs to keep fields others added.
func (c *Client) SubscribeApp(ctx context.Context, pageID, pageToken string, fields []string) error {
	if err := checkPage(pageID, pageToken); err != nil {
		return err
	}
	if len(fields) == 0 {
		return &ValidationError{Field: "subscribed_fields", Problem: "is required"}
	}
	for _, f := range fields {
		if !webhookField.MatchString(f) {
			return &ValidationError{Field: "subscribed_fields", Problem: fmt.Sprintf("%q is not a webhook field name", f)}
		}
	}
	form := url.Values{"subscribed_fields": {strings.Join(fields, ",")}}
	resp, err := c.do(ctx, call{method: http.MethodPost, action: ActionSubscribeApp, pageID: pageID, token: pageToken,
		endpoint: c.pageURL(pageID, "subscribed_apps"), contentType: "application/x-www-form-urlencoded",
		body: []byte(form.Encode())})
	if err != nil {
		return redact(err, pageToken)
	}
	return successAnswer(resp, "subscribed_apps")
}

// UnsubscribeApp removes the token's app from the Page: DELETE /<version>/<pageID>/subscribed_apps.
func (c *Client) UnsubscribeApp(ctx context.Context, pageID, pageToken string) error {
	if err := checkPage(pageID, pageToken); err != nil {
		return err
	}
	resp, err := c.do(ctx, call{method: http.MethodDelete, action: ActionUnsubscribeApp, pageID: pageID,
		token: pageToken, endpoint: c.pageURL(pageID, "subscribed_apps")})
	if err != nil {
		return redact(err, pageToken)
	}
	return successAnswer(resp, "subscribed_apps")
}

// GetStarted is the Messenger Profile's get_started field.
type GetStarted struct {
	Payload string `json:"payload"`
}

// Profile holds the Messenger Profile fields the operator uses. A nil GetStarted means the Page has no
// Get Started button.
type Profile struct {
	GetStarted         *GetStarted `json:"get_started,omitempty"`
	WhitelistedDomains []string    `json:"whitelisted_domains,omitempty"`
}

// MessengerProfile reads the Page's get_started and whitelisted_domains:
// GET /<version>/me/messenger_profile?fields=get_started,whitelisted_domains. The Page is the token's;
// pageID only keys the rate-limit pauses. Meta counts the call against the Page's profile limit.
func (c *Client) MessengerProfile(ctx context.Context, pageID, pageToken string) (Profile, error) {
	if err := checkPage(pageID, pageToken); err != nil {
		return Profile{}, err
	}
	q := url.Values{"fields": {ProfileGetStarted + "," + ProfileWhitelistedDomains}}
	resp, err := c.do(ctx, call{method: http.MethodGet, action: ActionGetMessengerProfile, pageID: pageID,
		token: pageToken, endpoint: c.pageURL("me", "messenger_profile") + "?" + q.Encode()})
	if err != nil {
		return Profile{}, redact(err, pageToken)
	}
	var out struct {
		Data []Profile `json:"data"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return Profile{}, &Error{HTTPStatus: resp.status, Message: "unreadable messenger_profile answer", FBTraceID: resp.traceID}
	}
	var p Profile
	for _, d := range out.Data { // Meta answers one element; merge, should it ever split the fields
		if d.GetStarted != nil {
			p.GetStarted = d.GetStarted
		}
		p.WhitelistedDomains = append(p.WhitelistedDomains, d.WhitelistedDomains...)
	}
	return p, nil
}

// SetMessengerProfile writes the fields set in p (a nil GetStarted or nil WhitelistedDomains is left as
// it is): POST /<version>/me/messenger_profile. Each field is replaced whole, so read, merge, then write.
func (c *Client) SetMessengerProfile(ctx context.Context, pageID, pageToken string, p Profile) error {
	if err := checkPage(pageID, pageToken); err != nil {
		return err
	}
	if p.GetStarted == nil && p.WhitelistedDomains == nil {
		return &ValidationError{Field: "messenger_profile", Problem: "names no field to set"}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("graph: encode messenger profile: %w", err)
	}
	resp, err := c.do(ctx, call{method: http.MethodPost, action: ActionSetMessengerProfile, pageID: pageID,
		token: pageToken, endpoint: c.pageURL("me", "messenger_profile"), contentType: "application/json", body: body})
	if err != nil {
		return redact(err, pageToken)
	}
	return successAnswer(resp, "messenger_profile")
}

// DeleteMessengerProfile removes fields from the Page's profile: DELETE /<version>/me/messenger_profile
// with {"fields":[...]}.
func (c *Client) DeleteMessengerProfile(ctx context.Context, pageID, pageToken string, fields []string) error {
	if err := checkPage(pageID, pageToken); err != nil {
		return err
	}
	if len(fields) == 0 {
		return &ValidationError{Field: "fields", Problem: "is required"}
	}
	body, err := json.Marshal(map[string][]string{"fields": fields})
	if err != nil {
		return fmt.Errorf("graph: encode messenger profile fields: %w", err)
	}
	resp, err := c.do(ctx, call{method: http.MethodDelete, action: ActionDeleteMessengerField, pageID: pageID,
		token: pageToken, endpoint: c.pageURL("me", "messenger_profile"), contentType: "application/json", body: body})
	if err != nil {
		return redact(err, pageToken)
	}
	return successAnswer(resp, "messenger_profile")
}

func (c *Client) pageURL(node, edge string) string {
	return c.baseURL + "/" + c.version + "/" + node + "/" + edge
}

// successAnswer accepts Meta's success shapes: {"success":true} (old docs: "true") and
// {"result":"success"}.
func successAnswer(resp response, edge string) error {
	var raw struct {
		Success json.RawMessage `json:"success"`
		Result  string          `json:"result"`
	}
	if json.Unmarshal(resp.body, &raw) == nil {
		switch strings.Trim(string(raw.Success), `"`) {
		case "true":
			return nil
		}
		if raw.Result == "success" {
			return nil
		}
	}
	return &UnknownOutcomeError{Err: &Error{HTTPStatus: resp.status, Message: "unreadable " + edge + " answer",
		FBTraceID: resp.traceID}}
}

// MissingPermission returns the permission a PermissionDenied error names ("pages_manage_metadata",
// "pages_messaging", ...), "" when its message names none.
func MissingPermission(err error) string {
	var ge *Error
	if err == nil || Reason(err) != ReasonPermissionDenied {
		return ""
	}
	if !errors.As(err, &ge) {
		return ""
	}
	return permissionRE.FindString(ge.Message + " " + ge.UserMessage)
}

var permissionRE = regexp.MustCompile(`\b(pages|business|instagram)_[a-z_]+\b`)
