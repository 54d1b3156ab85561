package delivery

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// SignatureHeader is the header carrying the body's HMAC-SHA256. The legacy sha1 header
// (X-Hub-Signature) is deliberately not read.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Signature errors. None of their messages contains the secret or the expected MAC.
var (
	// ErrNoAppSecret means the caller passed an empty secret: a configuration error, never the
	// sender's fault. Refusing it keeps a missing Secret from turning into "anyone may post".
	ErrNoAppSecret = errors.New("delivery: no app secret configured")
	// ErrMissingSignature means the request had no X-Hub-Signature-256 header.
	ErrMissingSignature = errors.New("delivery: missing " + SignatureHeader + " header")
	// ErrMalformedSignature means the header is not sha256= followed by 64 hex digits.
	ErrMalformedSignature = errors.New("delivery: malformed " + SignatureHeader + " header")
	// ErrBadSignature means the header is well formed but does not match the body.
	ErrBadSignature = errors.New("delivery: signature does not match body")
)

// EnvAppSecret is the environment variable the tools read the app secret from when no file is named.
const EnvAppSecret = "MMELINK_APP_SECRET" //nolint:gosec // G101: the variable's name, not a secret

// TrimSecret removes one trailing "\n" or "\r\n": a secret's bytes as read from a file or a Secret, which
// editors and `echo` end with a newline. Every tool that reads the app secret applies this one rule.
func TrimSecret(b []byte) []byte {
	if b, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		b, _ = bytes.CutSuffix(b, []byte("\r"))
		return b
	}
	return b
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body: "sha256=" and the lower-case hex
// HMAC-SHA256 of the raw bytes.
func Sign(appSecret, body []byte) string {
	mac := hmac.New(sha256.New, appSecret)
	mac.Write(body)
	var sum [sha256.Size]byte
	return signaturePrefix + hex.EncodeToString(mac.Sum(sum[:0]))
}

// VerifySignature checks header (the X-Hub-Signature-256 value) against the HMAC-SHA256 of body, the bytes
// exactly as received, in constant time. Meta sends lower-case hex digits; upper case is accepted too,
// because the digits are decoded and the MAC bytes compared: the case carries no information, so
// refusing it would guard nothing and only fail a delivery whose header a proxy or tool re-cased.
func VerifySignature(appSecret, body []byte, header string) error {
	if len(appSecret) == 0 {
		return ErrNoAppSecret
	}
	return verify(hmac.New(sha256.New, appSecret), body, header)
}

// Verifier is VerifySignature for one app secret, reusing its HMAC states: a receiver checks every
// delivery with the same secret, and a fresh HMAC-SHA256 costs 512 bytes of garbage per request against
// 32 here, and twice the time (BenchmarkVerifier: 983 against 460 ns). Safe for concurrent use.
type Verifier struct {
	macs sync.Pool
}

// NewVerifier returns a Verifier for appSecret, or ErrNoAppSecret when it is empty.
func NewVerifier(appSecret []byte) (*Verifier, error) {
	if len(appSecret) == 0 {
		return nil, ErrNoAppSecret
	}
	secret := bytes.Clone(appSecret)
	return &Verifier{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }}}, nil
}

// Verify checks header against body as VerifySignature does.
func (v *Verifier) Verify(body []byte, header string) error {
	mac := v.macs.Get().(hash.Hash)
	mac.Reset()
	err := verify(mac, body, header)
	v.macs.Put(mac)
	return err
}

// verify checks header against body with mac, an HMAC-SHA256 of the app secret in its initial state.
func verify(mac hash.Hash, body []byte, header string) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissingSignature
	}
	algo, digits, ok := strings.Cut(header, "=")
	switch {
	case !ok:
		return fmt.Errorf("%w: want sha256=<hex>", ErrMalformedSignature)
	case strings.EqualFold(algo, "sha1"):
		return fmt.Errorf("%w: sha1 is not accepted, want sha256", ErrMalformedSignature)
	case !strings.EqualFold(algo, "sha256"):
		// The algorithm name is the sender's text: not echoed, so it cannot end up in logs.
		return fmt.Errorf("%w: unsupported algorithm, want sha256", ErrMalformedSignature)
	case len(digits) != 2*sha256.Size:
		return fmt.Errorf("%w: want %d hex digits, got %d", ErrMalformedSignature, 2*sha256.Size, len(digits))
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], []byte(digits)); err != nil {
		return fmt.Errorf("%w: not hexadecimal", ErrMalformedSignature)
	}

	mac.Write(body)
	var want [sha256.Size]byte
	if !hmac.Equal(got[:], mac.Sum(want[:0])) {
		return ErrBadSignature
	}
	return nil
}
