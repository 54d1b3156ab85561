package delivery

import (
	"errors"
	"strings"
	"testing"
)

func TestSignKnownVector(t *testing.T) {
	// HMAC-SHA256 test vector (key "key"), as published for many HMAC implementations.
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	want := "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	secret := []byte("s3cr3t-app-secret")
	body := []byte(page(`{"sender":{"id":"1"},"referral":{"ref":"caf\u00e9"}}`))
	valid := Sign(secret, body)
	digits := strings.TrimPrefix(valid, "sha256=")

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   error
	}{
		{"valid", secret, body, valid, nil},
		{"upper-case hex", secret, body, "sha256=" + strings.ToUpper(digits), nil},
		{"upper-case algorithm", secret, body, "SHA256=" + digits, nil},
		{"surrounding spaces", secret, body, " " + valid + " ", nil},
		{"wrong secret", []byte("another-secret"), body, valid, ErrBadSignature},
		{"body changed by one byte", secret, append([]byte(nil), append(body[:len(body)-1:len(body)-1], ' ')...), valid, ErrBadSignature},
		// Meta signs the bytes as sent, \u escapes included: re-encoded JSON does not verify.
		{"body re-encoded", secret, []byte(strings.Replace(string(body), `\u00e9`, "é", 1)), valid, ErrBadSignature},
		{"no secret configured", nil, body, valid, ErrNoAppSecret},
		{"missing", secret, body, "", ErrMissingSignature},
		{"blank", secret, body, "   ", ErrMissingSignature},
		{"no prefix", secret, body, digits, ErrMalformedSignature},
		{"prefix only", secret, body, "sha256=", ErrMalformedSignature},
		{"bad hex", secret, body, "sha256=" + digits[:63] + "g", ErrMalformedSignature},
		{"one digit short", secret, body, "sha256=" + digits[:63], ErrMalformedSignature},
		{"one digit long", secret, body, valid + "0", ErrMalformedSignature},
		{"sha1 alone", secret, body, "sha1=" + digits[:40], ErrMalformedSignature},
		{"sha1 with a sha256-length digest", secret, body, "sha1=" + digits, ErrMalformedSignature},
		{"another algorithm", secret, body, "sha512=" + digits, ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.body, tt.header)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tt.want)
			}
			// The receiver's Verifier gives the same answer, also when its HMAC was used before (for a
			// failed check first, so that no state carries over).
			if v, verr := NewVerifier(tt.secret); verr != nil {
				if !errors.Is(verr, tt.want) {
					t.Fatalf("NewVerifier = %v, want %v", verr, tt.want)
				}
			} else {
				for range 3 {
					_ = v.Verify([]byte("something else"), valid)
					if got := v.Verify(tt.body, tt.header); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
						t.Fatalf("Verifier.Verify = %v, want %v", got, tt.want)
					}
				}
			}
			if err == nil {
				return
			}
			// The message may end up in a log line: neither the secret nor the MAC an attacker would
			// need may appear in it.
			msg := strings.ToLower(err.Error())
			if strings.Contains(msg, string(secret)) || strings.Contains(msg, digits) || strings.Contains(msg, digits[:16]) {
				t.Errorf("error message leaks the secret or the expected MAC: %q", msg)
			}
		})
	}
}

func TestSignatureSentinelsAreDistinct(t *testing.T) {
	errs := []error{ErrNoAppSecret, ErrMissingSignature, ErrMalformedSignature, ErrBadSignature}
	for i, a := range errs {
		for j, b := range errs {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}
