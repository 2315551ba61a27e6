package control

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/peerplane/peerplane/internal/azureid"
)

// ID prefixes, as Confluent Cloud's.
const (
	PrefixEnvironment = "env-"
	PrefixNetwork     = "n-"
	PrefixPeering     = "peer-"
	PrefixCluster     = "lkc-"
)

const (
	idAlphabet     = "abcdefghijklmnopqrstuvwxyz0123456789"
	keyAlphabet    = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

	idLength     = 6
	keyLength    = 16
	secretLength = 64
)

// randomString returns n characters drawn uniformly from alphabet.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%len(alphabet)
	buf := make([]byte, 2*n)
	for i := 0; i < n; {
		rand.Read(buf) // never fails (crypto/rand)
		for _, c := range buf {
			if int(c) >= limit {
				continue
			}
			b[i] = alphabet[int(c)%len(alphabet)]
			if i++; i == n {
				break
			}
		}
	}
	return string(b)
}

// NewID returns a new id with the given prefix: the prefix then six lowercase
// letters and digits, like Confluent's "env-a1b2c3" or "lkc-9xk2m1".
func NewID(prefix string) string { return prefix + randomString(idAlphabet, idLength) }

// NewOrganizationID returns a random (version 4) UUID, as Confluent's
// organization ids are.
func NewOrganizationID() string { return azureid.NewGUID() }

// NewAPIKey returns a new Cloud API key (16 uppercase letters and digits) and
// secret (64 letters and digits), as Confluent's.
func NewAPIKey() (key, secret string) {
	return randomString(keyAlphabet, keyLength), randomString(secretAlphabet, secretLength)
}

// HashSecret returns the stored form of an API secret. Secrets are 64 random
// characters (381 bits), so a fast hash is as safe as a slow one here.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SecretMatches reports whether secret hashes to hash, in constant time.
func SecretMatches(hash, secret string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(secret))) == 1
}

// HasIDPrefix reports whether id is prefix followed by a non-empty run of
// lowercase letters and digits.
func HasIDPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
