package pgledger

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
)

// Keys are derived from one secret (a mounted Secret, --ledger-key-file) so that every replica hashes
// people and seals tokens alike:
//   - person: HMAC-SHA256, truncated to 16 bytes. A PSID is a number of about 16 digits; an unkeyed
//     hash of it would be reversed by trying them all, a keyed one cannot be without the key. Equal
//     people hash equal, which is all the unique-people count needs.
//   - tokenKey: HMAC-SHA256 of the token: the row's idempotency key, without the token in clear.
//   - seal: AES-256-GCM over the token and its details; the token is a credential for later sends.
type Keys struct {
	person, token []byte
	aead          cipher.AEAD
}

// MinKeyBytes is the least secret length accepted.
const MinKeyBytes = 32

// NewKeys derives the keys from secret.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("the ledger key must have at least %d bytes, has %d", MinKeyBytes, len(secret))
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("mmelink ledger " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("seal"))
	if err != nil {
		return nil, fmt.Errorf("token cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("token cipher: %w", err)
	}
	return &Keys{person: derive("person"), token: derive("token"), aead: aead}, nil
}

// LoadKeys reads the secret from file.
func LoadKeys(file string) (*Keys, error) {
	b, err := os.ReadFile(file) //nolint:gosec // G304: the path is the operator's own flag (a mounted Secret)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger key file: %w", err)
	}
	return NewKeys(b)
}

func (k *Keys) mac(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)[:16]
}

// Person hashes a person's ID (prefixed by its kind, psid: or uref:).
func (k *Keys) Person(id string) []byte { return k.mac(k.person, id) }

// TokenKey is the idempotency key of a token.
func (k *Keys) TokenKey(token string) []byte { return k.mac(k.token, token) }

// Seal encrypts plain; the object UID and token key are authenticated with it, so that a sealed record
// copied to another row does not open.
func (k *Keys) Seal(plain, ad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	return k.aead.Seal(nonce, nonce, plain, ad)
}

// Open decrypts what Seal returned.
func (k *Keys) Open(sealed, ad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed token record too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, fmt.Errorf("opening a sealed token record (wrong key?): %w", err)
	}
	return plain, nil
}
