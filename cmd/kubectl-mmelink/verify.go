package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: only to tell whether the legacy header matches, never to accept
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mmelink/operator/internal/delivery"
	"github.com/mmelink/operator/internal/metawebhook"
)

const legacyHeader = "X-Hub-Signature"

const verifyLong = `Check a captured webhook delivery against the app secret, with the webhook server's own verification
(X-Hub-Signature-256: HMAC-SHA256 of the raw body), and say exactly what is wrong when it fails:

  - the X-Hub-Signature-256 header is missing (and whether only the legacy sha1 X-Hub-Signature is there)
  - it holds a sha1= value, lacks the sha256= prefix, or is not 64 hex digits
  - the body was changed after Meta signed it: a trailing newline, CRLF line ends, pretty-printed or
    re-encoded JSON (Meta signs compact JSON with non-ASCII escaped as \uXXXX), a body cut short of its
    Content-Length
  - the app secret has stray whitespace
  - the secret is not the one Meta signed with (when nothing above explains the mismatch)

The capture is an HTTP request as received (request line, headers, blank line, body), or the headers and
body without the request line, from --request FILE or stdin; or --body FILE with --signature or
--header. Keep the body's bytes exactly: the signature covers them, not the JSON they mean.

Exit status 0 when the signature is valid, 1 when it is not. Neither the secret nor the expected signature
is ever printed.`

type verifyOptions struct {
	request, body, signature string
	headers                  []string
	secret                   secretSource
}

func newVerifyCmd(k *kube) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify-signature [--request FILE | --body FILE (--signature VALUE | --header 'NAME: VALUE')]",
		Short: "Check a captured delivery's X-Hub-Signature-256 against the app secret and say what is wrong",
		Long:  verifyLong,
		Example: `  kubectl mmelink verify-signature --request delivery.http --app-secret-file ./app-secret
  kubectl mmelink verify-signature --app-secret-from mmelink-system/mmelink-webhook < delivery.http
  kubectl mmelink verify-signature --body body.json --signature "sha256=5f0c..." --app-secret-file ./app-secret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd, k, o) },
	}
	fs := cmd.Flags()
	fs.StringVar(&o.request, "request", "", "File holding the captured request (headers, blank line, body); - or nothing for stdin.")
	fs.StringVar(&o.body, "body", "", "File holding the body exactly as received (instead of --request).")
	fs.StringVar(&o.signature, "signature", "", "The X-Hub-Signature-256 value, with --body (it is not a secret).")
	fs.StringArrayVar(&o.headers, "header", nil, "A header of the delivery as 'Name: value', with --body (repeatable).")
	o.secret.bind(cmd)
	return cmd
}

func runVerify(cmd *cobra.Command, k *kube, o verifyOptions) error {
	c, err := o.capture(cmd)
	if err != nil {
		return err
	}
	secret, err := o.secret.load(cmd.Context(), k)
	if err != nil {
		return err
	}
	v := diagnose(secret, c)
	var b strings.Builder
	if v.ok {
		b.WriteString("valid: " + v.summary + "\n")
	} else {
		b.WriteString("INVALID: " + v.summary + "\n")
	}
	for _, d := range v.details {
		b.WriteString("  " + d + "\n")
	}
	if _, err := io.WriteString(cmd.OutOrStdout(), b.String()); err != nil {
		return err
	}
	if !v.ok {
		return exitError{1}
	}
	return nil
}

// exitError ends the command with its code, having printed what there was to say.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (o verifyOptions) capture(cmd *cobra.Command) (*capture, error) {
	if o.body != "" {
		if o.request != "" {
			return nil, usagef("give --request or --body, not both")
		}
		body, err := os.ReadFile(o.body)
		if err != nil {
			return nil, fmt.Errorf("reading --body: %w", err)
		}
		c := &capture{header: map[string][]string{}, body: body, contentLength: -1}
		for _, h := range o.headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok {
				return nil, usagef("--header %q: want 'Name: value'", h)
			}
			c.header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		if o.signature != "" {
			c.header.Set(delivery.SignatureHeader, o.signature)
		}
		return c.withLength()
	}
	if o.signature != "" || len(o.headers) > 0 {
		return nil, usagef("--signature and --header go with --body; a --request capture holds its headers")
	}
	var data []byte
	var err error
	if o.request == "" || o.request == "-" {
		data, err = readAllLimited(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(o.request)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the capture: %w", err)
	}
	return parseCapture(data)
}

// verdict is what diagnose found: a one-line summary and the details.
type verdict struct {
	ok      bool
	summary string
	details []string
}

// diagnose verifies the capture with the webhook server's function, and on failure finds the cause.
func diagnose(secret []byte, c *capture) verdict {
	sig, legacy := c.header.Get(delivery.SignatureHeader), c.header.Get(legacyHeader)
	var notes []string
	if c.contentLength >= 0 && int64(len(c.body)) < c.contentLength {
		notes = append(notes, fmt.Sprintf("The body has %d bytes, but Content-Length says %d: the capture is cut short, and a receiver waits for the rest.",
			len(c.body), c.contentLength))
	}
	if len(c.extra) > 0 {
		notes = append(notes, fmt.Sprintf("The capture has %s after the body's end by its Content-Length (%q): not part of the delivery, left out.",
			plural(len(c.extra), "byte"), clip(c.extra)))
	}
	err := delivery.VerifySignature(secret, c.body, sig)
	switch {
	case err == nil:
		return verdict{ok: true, summary: fmt.Sprintf("%s matches the %d-byte body with this app secret", delivery.SignatureHeader, len(c.body)), details: notes}
	case errors.Is(err, delivery.ErrMissingSignature):
		return missing(secret, c, legacy, notes)
	case errors.Is(err, delivery.ErrMalformedSignature):
		return malformed(secret, c, sig, err, notes)
	}
	return mismatch(secret, c, legacy, notes)
}

func missing(secret []byte, c *capture, legacy string, notes []string) verdict {
	if legacy == "" {
		names := make([]string, 0, len(c.header))
		for n := range c.header {
			names = append(names, n)
		}
		return verdict{summary: "no " + delivery.SignatureHeader + " header", details: append(notes,
			"Meta signs every delivery with it. The request is not from Meta, or a proxy or the capture dropped the header.",
			fmt.Sprintf("Headers present: %s.", strings.Join(sortedStrings(names), ", ")))}
	}
	d := "Meta sends both headers, so a proxy or the capture dropped X-Hub-Signature-256 (or the sender is not Meta). The webhook server never accepts sha1 alone."
	if legacyMatches(secret, c.body, legacy) {
		d += " The sha1 signature does match this body and secret, so both are right."
	}
	return verdict{summary: "no " + delivery.SignatureHeader + " header, only the legacy sha1 " + legacyHeader, details: append(notes, d)}
}

func malformed(secret []byte, c *capture, sig string, err error, notes []string) verdict {
	v := strings.TrimSpace(sig)
	lower := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lower, "sha1="):
		d := "That is the format of the legacy X-Hub-Signature header (HMAC-SHA1): copy X-Hub-Signature-256, whose value starts with sha256=."
		if legacyMatches(secret, c.body, v) {
			d += " As a sha1 signature it matches this body and secret."
		}
		return verdict{summary: delivery.SignatureHeader + " holds a sha1= value, not sha256=", details: append(notes, d)}
	case !strings.Contains(v, "=") && len(v) == 64:
		d := "The value must be sha256=<64 hex digits>."
		if delivery.VerifySignature(secret, c.body, "sha256="+v) == nil {
			d += " With the prefix, it matches."
		}
		return verdict{summary: delivery.SignatureHeader + " lacks the sha256= prefix", details: append(notes, d)}
	}
	return verdict{summary: strings.TrimPrefix(err.Error(), "delivery: "), details: append(notes,
		"The value must be sha256= followed by the 64 lower-case hex digits of the HMAC-SHA256.")}
}

// bodyVariant is a change a body may have gone through after Meta signed it, undone.
type bodyVariant struct {
	what string
	body []byte
}

func mismatch(secret []byte, c *capture, legacy string, notes []string) verdict {
	if t := bytes.TrimSpace(secret); !bytes.Equal(t, secret) && delivery.VerifySignature(t, c.body, c.header.Get(delivery.SignatureHeader)) == nil {
		return verdict{summary: "the app secret you gave has surrounding whitespace", details: append(notes,
			"Without it the signature matches. Fix the file or Secret: the webhook server removes only one trailing newline.")}
	}
	sig := c.header.Get(delivery.SignatureHeader)
	for _, v := range variants(c.body) {
		if delivery.VerifySignature(secret, v.body, sig) == nil {
			return verdict{summary: "the body was changed after Meta signed it: " + v.what, details: append(notes,
				"With that undone, the signature matches: the app secret is right. The signature covers the raw bytes Meta sent; "+
					"verify them before any parsing, and capture them unmodified.")}
		}
	}
	if legacy != "" && legacyMatches(secret, c.body, legacy) {
		return verdict{summary: delivery.SignatureHeader + " does not belong to this body", details: append(notes,
			"The legacy sha1 X-Hub-Signature matches this body with this secret, so both are right: the sha256 header was altered or copied from another delivery.")}
	}
	d := []string{"Either the app secret is not the one Meta signs with (App Dashboard > App settings > Basic > App secret; " +
		"a reset retires the old one; the verify token is another thing), or the body is not the bytes Meta sent.",
		"Ruled out: a trailing newline, CRLF line ends, pretty-printed or re-encoded JSON (compact, \\uXXXX, \\/). A change in key order or values cannot be undone."}
	if !isASCII(c.body) {
		d = append(d, "The body holds non-ASCII characters unescaped; Meta escapes them as \\uXXXX, so it was probably decoded and encoded again.")
	}
	if legacy != "" {
		d = append(d, "The legacy sha1 X-Hub-Signature does not match either: that points at the secret.")
	}
	return verdict{summary: delivery.SignatureHeader + " does not match the body with this app secret", details: append(notes, d...)}
}

// variants returns the body as it was before the changes captures and receivers commonly make.
func variants(body []byte) []bodyVariant {
	var out []bodyVariant
	add := func(what string, b []byte) {
		if !bytes.Equal(b, body) {
			out = append(out, bodyVariant{what, b})
		}
	}
	if b, ok := bytes.CutSuffix(body, []byte("\n")); ok {
		b, _ = bytes.CutSuffix(b, []byte("\r"))
		add("a trailing newline was added (by an editor, echo or the capture)", b)
	}
	add("trailing whitespace was added", bytes.TrimRight(body, " \t\r\n"))
	add("line ends were changed to CRLF", bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	if !json.Valid(body) {
		return out
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		add("the JSON was pretty-printed (whitespace added; Meta signs it compact)", compact.Bytes())
	}
	for _, slashes := range []bool{false, true} {
		b, err := reencodeJSON(body, slashes)
		if err != nil {
			return out
		}
		what := "the JSON was decoded and encoded again (Meta's bytes are compact, non-ASCII escaped as \\uXXXX"
		if slashes {
			what += ", / escaped as \\/"
		}
		add(what+")", metawebhook.EscapeNonASCII(b))
		if !slashes {
			add("the JSON was decoded and encoded again (whitespace or escapes changed)", b)
		} else {
			add("the JSON was decoded and encoded again (Meta's bytes escape / as \\/)", b)
		}
	}
	return out
}

func legacyMatches(secret, body []byte, header string) bool {
	algo, digits, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(algo, "sha1") {
		return false
	}
	got, err := hex.DecodeString(digits)
	if err != nil {
		return false
	}
	m := hmac.New(sha1.New, secret)
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// maxCapture bounds what is read from stdin: twice the webhook server's default largest body (4 MiB).
const maxCapture = 8 << 20

func readAllLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxCapture+1))
	if err == nil && int64(len(b)) > maxCapture {
		return nil, fmt.Errorf("more than %d bytes: not a delivery", maxCapture)
	}
	return b, err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// clip shows at most 20 bytes of b.
func clip(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "..."
	}
	return string(b)
}
