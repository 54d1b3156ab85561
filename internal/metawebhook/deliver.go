package metawebhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: Meta still sends the legacy sha1 signature next to sha256
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmelink/operator/internal/delivery"
)

// deliveryClient posts deliveries; its timeout stands for Meta's patience.
var deliveryClient = &http.Client{Timeout: 20 * time.Second}

// Deliver posts a webhook delivery signed as Meta signs it (see NewDeliveryRequest). The answer's body is
// already read into memory, so closing it is optional.
func Deliver(ctx context.Context, webhookURL, appSecret string, envelope any) (*http.Response, error) {
	req, err := NewDeliveryRequest(ctx, webhookURL, appSecret, envelope)
	if err != nil {
		return nil, err
	}
	resp, err := deliveryClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metawebhook: deliver to webhook: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil {
		return resp, fmt.Errorf("metawebhook: read webhook answer: %w", err)
	}
	return resp, nil
}

// NewDeliveryRequest returns the POST of a webhook delivery signed as Meta signs it
// (X-Hub-Signature-256, and the legacy X-Hub-Signature), with Meta's headers. envelope is sent verbatim
// when it is []byte or json.RawMessage; anything else is encoded by EncodeEnvelope.
func NewDeliveryRequest(ctx context.Context, webhookURL, appSecret string, envelope any) (*http.Request, error) {
	body, err := EncodeEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("metawebhook: build delivery: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set(delivery.SignatureHeader, delivery.Sign([]byte(appSecret), body))
	req.Header.Set("X-Hub-Signature", signSHA1(appSecret, body))
	return req, nil
}

// EncodeEnvelope returns []byte and json.RawMessage as they are and encodes anything else to JSON as
// Meta writes it: non-ASCII characters escaped as \uXXXX, "/" as "\/" (a referer_uri arrives as
// "https:\/\/..."), <, > and & as they are: the bytes Meta signs. encoding/json writes "/" only inside strings, where "\/" means
// the same.
func EncodeEnvelope(envelope any) ([]byte, error) {
	switch v := envelope.(type) {
	case []byte:
		return v, nil
	case json.RawMessage:
		return v, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Meta writes <, > and & as they are
	if err := enc.Encode(envelope); err != nil {
		return nil, fmt.Errorf("metawebhook: encode delivery: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return bytes.ReplaceAll(EscapeNonASCII(b), []byte("/"), []byte(`\/`)), nil
}

// Optin delivers a recurring-notification opt-in (messaging_optins, optin.type notification_messages).
func Optin(ctx context.Context, webhookURL, appSecret string, ev OptinEvent) (*http.Response, error) {
	return Deliver(ctx, webhookURL, appSecret, ev.Envelope())
}

// Referral delivers a messaging_referrals event.
func Referral(ctx context.Context, webhookURL, appSecret string, ev ReferralEvent) (*http.Response, error) {
	return Deliver(ctx, webhookURL, appSecret, ev.Envelope())
}

// PostbackReferral delivers a messaging_postbacks event carrying postback.referral.
func PostbackReferral(ctx context.Context, webhookURL, appSecret string, ev ReferralEvent) (*http.Response, error) {
	return Deliver(ctx, webhookURL, appSecret, ev.PostbackEnvelope())
}

// PluginOptin delivers a Send-to-Messenger or checkbox plugin opt-in.
func PluginOptin(ctx context.Context, webhookURL, appSecret string, ev PluginOptinEvent) (*http.Response, error) {
	return Deliver(ctx, webhookURL, appSecret, ev.Envelope())
}

// signSHA1 is the legacy X-Hub-Signature value, which receivers must not rely on alone.
func signSHA1(appSecret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(appSecret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// EscapeNonASCII rewrites every non-ASCII character of JSON text as \uXXXX (surrogate pairs above the
// BMP), as Meta does before signing. Inside JSON only strings can hold such characters, so the rewrite
// keeps the value.
func EscapeNonASCII(b []byte) []byte {
	var out strings.Builder
	out.Grow(len(b))
	for _, r := range string(b) {
		switch {
		case r < utf8.RuneSelf:
			out.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return []byte(out.String())
}
