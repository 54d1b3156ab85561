package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/graph/graphtest"
)

// The secret of the signature tests: distinctive, so that a leak into the output is found.
const testSecret = "app-secret-Zq81Lw0pXr"

// metaBody is a delivery as Meta writes it: compact, non-ASCII escaped as \uXXXX, and / as \/ (as Meta's
// payloads show them; graphtest leaves / alone, so the slashes are escaped here).
func metaBody(t *testing.T) []byte {
	t.Helper()
	env := graphtest.ReferralEvent{PageID: "104729384756123", PSID: "7001000000000001", Ref: "summer_poster",
		Source: "CUSTOMER_CHAT_PLUGIN", RefererURI: "https://shop.acme.example/été"}.Envelope()
	b, err := graphtest.EncodeEnvelope(env) // as Meta writes it: \uXXXX and \/
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wire returns the capture of body as sent on the wire, signed with secret; edit changes the request's
// headers before it is written.
func wire(t *testing.T, secret string, body []byte, edit func(h http.Header)) []byte {
	t.Helper()
	req, err := graphtest.NewDeliveryRequest(context.Background(), "http://127.0.0.1:8090/webhook", secret, body)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req.Header)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headed is a capture without the request line: the headers, a blank line and body, as a person pastes them.
func headed(t *testing.T, sig string, body []byte) []byte {
	t.Helper()
	return append([]byte("Content-Type: application/json\n"+delivery.SignatureHeader+": "+sig+"\n\n"), body...)
}

func TestVerifySignatureSaysWhatIsWrong(t *testing.T) {
	body := metaBody(t)
	sig := delivery.Sign([]byte(testSecret), body)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	// What a receiver that decoded the JSON and encoded it again holds (as JavaScript's JSON.stringify
	// does: keys in order, raw é, plain /, here through the struct the body was made from).
	var decoded graphtest.Envelope
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatal(err)
	}
	var reencoded bytes.Buffer
	enc := json.NewEncoder(&reencoded)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(decoded); err != nil {
		t.Fatal(err)
	}
	other := append(bytes.Clone(body[:len(body)-2]), []byte(`,"x":1}`)...) // another delivery's bytes

	cases := []struct {
		name    string
		capture []byte
		secret  string // default testSecret
		ok      bool
		summary string // substring of the first line
		detail  string // substring of the rest
	}{
		{name: "valid request as received", capture: wire(t, testSecret, body, nil), ok: true,
			summary: "matches the " + strconv.Itoa(len(body)) + "-byte body"},
		{name: "valid, an editor added a final newline after the body", capture: append(wire(t, testSecret, body, nil), '\n'), ok: true,
			detail: `The capture has 1 byte after the body's end by its Content-Length ("\n")`},
		{name: "headers and body without the request line", capture: headed(t, sig, body), ok: true},
		{name: "trailing newline in a body without Content-Length", capture: headed(t, sig, append(bytes.Clone(body), '\n')),
			summary: "the body was changed after Meta signed it: a trailing newline was added", detail: "the app secret is right"},
		{name: "CRLF line ends", capture: headed(t, delivery.Sign([]byte(testSecret), []byte("{\"object\":\"page\",\n\"entry\":[]}")),
			[]byte("{\"object\":\"page\",\r\n\"entry\":[]}")), summary: "line ends were changed to CRLF"},
		{name: "pretty-printed JSON", capture: headed(t, sig, pretty.Bytes()), summary: "the JSON was pretty-printed"},
		{name: "JSON decoded and encoded again", capture: headed(t, sig, reencoded.Bytes()),
			summary: `decoded and encoded again (Meta's bytes are compact, non-ASCII escaped as \uXXXX, / escaped as \/)`},
		{name: "missing header", capture: wire(t, testSecret, body, func(h http.Header) {
			delete(h, delivery.SignatureHeader)
			delete(h, legacyHeader)
		}), summary: "no X-Hub-Signature-256 header", detail: "Headers present: Content-Length, Content-Type, User-Agent"},
		{name: "only the legacy sha1 header", capture: wire(t, testSecret, body, func(h http.Header) {
			delete(h, delivery.SignatureHeader)
		}), summary: "only the legacy sha1 X-Hub-Signature", detail: "The sha1 signature does match this body and secret"},
		{name: "sha1 value in the sha256 header", capture: wire(t, testSecret, body, func(h http.Header) {
			h[delivery.SignatureHeader] = h[legacyHeader]
		}), summary: "holds a sha1= value, not sha256=", detail: "As a sha1 signature it matches"},
		{name: "no sha256= prefix", capture: headed(t, strings.TrimPrefix(sig, "sha256="), body),
			summary: "lacks the sha256= prefix", detail: "With the prefix, it matches"},
		{name: "digits cut short", capture: headed(t, sig[:40], body), summary: "want 64 hex digits, got 33"},
		{name: "wrong secret", capture: wire(t, "another-apps-secret", body, nil),
			summary: "does not match the body with this app secret", detail: "The legacy sha1 X-Hub-Signature does not match either"},
		{name: "secret file with a trailing space", capture: wire(t, testSecret, body, nil), secret: testSecret + " ",
			summary: "the app secret you gave has surrounding whitespace"},
		{name: "signature of another delivery", capture: wire(t, testSecret, body, func(h http.Header) {
			h.Set(delivery.SignatureHeader, delivery.Sign([]byte(testSecret), other))
		}), summary: "does not belong to this body", detail: "the sha256 header was altered"},
		{name: "body cut short of Content-Length", capture: wire(t, testSecret, body, nil)[:len(wire(t, testSecret, body, nil))-10],
			summary: "does not match", detail: "but Content-Length says " + strconv.Itoa(len(body))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secret := tc.secret
			if secret == "" {
				secret = testSecret
			}
			dir := t.TempDir()
			secretFile := filepath.Join(dir, "app-secret")
			if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"verify-signature", "--app-secret-file", secretFile},
				bytes.NewReader(tc.capture), &stdout, &stderr)
			out := stdout.String()
			first, rest, _ := strings.Cut(out, "\n")
			wantCode, wantPrefix := 1, "INVALID: "
			if tc.ok {
				wantCode, wantPrefix = 0, "valid: "
			}
			if code != wantCode || !strings.HasPrefix(first, wantPrefix) {
				t.Fatalf("exit %d, first line %q (stderr %q); want exit %d and %q", code, first, stderr.String(), wantCode, wantPrefix)
			}
			if !strings.Contains(first, tc.summary) {
				t.Errorf("summary %q, want it to contain %q", first, tc.summary)
			}
			if !strings.Contains(rest, tc.detail) {
				t.Errorf("details:\n%s\nwant them to contain %q", rest, tc.detail)
			}
			assertNoSecret(t, out+stderr.String(), testSecret)
			// Nor a signature the capture does not hold (the one its body would need lets anyone forge it).
			for _, mac := range hexRun.FindAllString(out, -1) {
				if !bytes.Contains(tc.capture, []byte(mac)) {
					t.Errorf("a MAC not in the capture was printed: %s", mac)
				}
			}
		})
	}
}

// A body from a file with the signature as a flag: the form of a support question.
func TestVerifySignatureFromBodyFile(t *testing.T) {
	body := metaBody(t)
	dir := t.TempDir()
	bodyFile, secretFile := filepath.Join(dir, "body.json"), filepath.Join(dir, "app-secret")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(testSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--signature", delivery.Sign([]byte(testSecret), body)},
		{"--header", delivery.SignatureHeader + ": " + delivery.Sign([]byte(testSecret), body)},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"verify-signature", "--body", bodyFile, "--app-secret-file", secretFile}, args...),
			nil, &stdout, &stderr)
		if code != 0 || !strings.HasPrefix(stdout.String(), "valid: ") {
			t.Errorf("%v: exit %d, %q %q", args, code, stdout.String(), stderr.String())
		}
	}
}

var hexRun = regexp.MustCompile(`[0-9a-fA-F]{40,}`)

func assertNoSecret(t *testing.T, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Errorf("the app secret was printed:\n%s", out)
	}
}
