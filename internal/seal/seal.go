// Package seal encrypts secrets at rest with AES-256-GCM, under a key
// derived with HKDF-SHA256 from a secret the operator gives, so that a
// database shared by replicas never holds them in clear and a value
// sealed for one purpose does not open as another's.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinSecretLen is the shortest secret New accepts, in bytes.
const MinSecretLen = 32

// ErrOpen is returned by Open for a value this box did not seal: sealed
// under another secret, for another label, or changed since.
var ErrOpen = errors.New("cannot decrypt: sealed with another secret key, or altered")

// version prefixes every sealed value, so that the format can change.
const version = "v1."

// Box seals and opens values under one secret.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for secret, or an error when it is shorter than
// MinSecretLen bytes. The secret's bytes are the key material as they
// are: make it random, such as NewSecret's.
func New(secret string) (*Box, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("the secret key has %d bytes, want at least %d (e.g. `openssl rand -base64 32`)", len(secret), MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "peerplane seal v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// NewSecret returns a new random secret for New: 32 random bytes in
// base64 (44 characters).
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Seal encrypts plaintext for label (what it is, such as
// "provider/client_secret"): only Open with the same label opens it.
func (b *Box) Seal(label string, plaintext []byte) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(label))
	return version + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts what Seal sealed for label. It returns ErrOpen when the
// value was sealed under another secret or label, or changed, and an
// error naming the problem when it is not a sealed value at all.
func (b *Box) Open(label, sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return nil, errors.New("not a sealed value")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return nil, errors.New("not a sealed value")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(label))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
