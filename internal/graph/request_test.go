package graph

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func validRequest() OptInRequest {
	return OptInRequest{RecipientID: "24601", Title: "Weekly deals", Payload: "topic=deals"}
}

func TestOptInRequestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*OptInRequest)
		field  string // "" when valid
	}{
		{"valid", func(*OptInRequest) {}, ""},
		{"all options", func(r *OptInRequest) {
			r.ImageURL, r.ImageAspectRatio, r.Timezone, r.CTAText, r.APIVersion =
				"https://example.com/a.png", "SQUARE", "Europe/Paris", "GET_UPDATES", "v19.0"
		}, ""},
		{"65 characters", func(r *OptInRequest) { r.Title = strings.Repeat("é", 65) }, ""},
		{"no recipient", func(r *OptInRequest) { r.RecipientID = "" }, "recipient.id"},
		{"non-numeric recipient", func(r *OptInRequest) { r.RecipientID = "../1" }, "recipient.id"},
		{"no title", func(r *OptInRequest) { r.Title = "  " }, "title"},
		{"66 characters", func(r *OptInRequest) { r.Title = strings.Repeat("a", 66) }, "title"},
		{"invalid UTF-8", func(r *OptInRequest) { r.Title = "\xff" }, "title"},
		{"cta", func(r *OptInRequest) { r.CTAText = "SUBSCRIBE" }, "notification_messages_cta_text"},
		{"cta case", func(r *OptInRequest) { r.CTAText = "allow" }, "notification_messages_cta_text"},
		{"aspect ratio", func(r *OptInRequest) { r.ImageAspectRatio = "VERTICAL" }, "image_aspect_ratio"},
		{"image url relative", func(r *OptInRequest) { r.ImageURL = "/a.png" }, "image_url"},
		{"image url scheme", func(r *OptInRequest) { r.ImageURL = "ftp://example.com/a.png" }, "image_url"},
		{"timezone", func(r *OptInRequest) { r.Timezone = "UTC; DROP" }, "notification_messages_timezone"},
		{"api version", func(r *OptInRequest) { r.APIVersion = "23.0" }, "api version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			tt.mutate(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("Validate() = %v, want a ValidationError on %q", err, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name the field %q", err, tt.field)
			}
		})
	}
}

func TestOptInRequestBody(t *testing.T) {
	r := validRequest()
	r.CTAText = "OPT_IN"
	b, err := r.body()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	payload := got["message"].(map[string]any)["attachment"].(map[string]any)["payload"].(map[string]any)
	checks := map[string]any{
		"template_type":                  "notification_messages",
		"title":                          "Weekly deals",
		"payload":                        "topic=deals",
		"notification_messages_timezone": "UTC",
		"notification_messages_cta_text": "OPT_IN",
	}
	for k, want := range checks {
		if payload[k] != want {
			t.Errorf("payload[%q] = %v, want %v", k, payload[k], want)
		}
	}
	if _, ok := payload["image_url"]; ok {
		t.Error("empty image_url was sent")
	}
	if got["recipient"].(map[string]any)["id"] != "24601" {
		t.Errorf("recipient = %v", got["recipient"])
	}
}

func TestParseSendResult(t *testing.T) {
	tests := []struct {
		body string
		want SendResult
		ok   bool
	}{
		{`{"recipient_id":"1","message_id":"m_a"}`, SendResult{RecipientID: "1", MessageID: "m_a"}, true},
		{`{"recipient":{"id":"2","message_id":"m_b"}}`, SendResult{RecipientID: "2", MessageID: "m_b"}, true},
		{`{"recipient":{"id":"3"},"message_id":"m_c"}`, SendResult{RecipientID: "3", MessageID: "m_c"}, true},
		{`{}`, SendResult{}, false},
		{`{"error":{"code":1}}`, SendResult{}, false},
		{`<html>`, SendResult{}, false},
	}
	for _, tt := range tests {
		got, ok := parseSendResult([]byte(tt.body))
		if ok != tt.ok || got.RecipientID != tt.want.RecipientID || got.MessageID != tt.want.MessageID {
			t.Errorf("parseSendResult(%s) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}
