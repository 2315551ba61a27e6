package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpens(t *testing.T) {
	secret := NewSecret()
	b, err := New(secret)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the provider app's client secret")
	sealed := b.Seal("provider/client_secret", plain)
	if strings.Contains(sealed, string(plain)) || !strings.HasPrefix(sealed, "v1.") {
		t.Fatalf("sealed value %q", sealed)
	}
	if again := b.Seal("provider/client_secret", plain); again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	// Another Box on the same secret (another replica) opens it.
	b2, _ := New(secret)
	got, err := b2.Open("provider/client_secret", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}

	other, _ := New(NewSecret())
	if _, err := other.Open("provider/client_secret", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("Open under another secret = %v, want ErrOpen", err)
	}
	if _, err := b.Open("ca/key", sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("Open for another label = %v, want ErrOpen", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	if _, err := b.Open("provider/client_secret", tampered); !errors.Is(err, ErrOpen) {
		t.Errorf("Open of an altered value = %v, want ErrOpen", err)
	}
	for _, junk := range []string{"", "v1.", "v1.!!!", "v2." + sealed[3:], string(plain)} {
		if _, err := b.Open("provider/client_secret", junk); err == nil || errors.Is(err, ErrOpen) {
			t.Errorf("Open(%q) = %v, want 'not a sealed value'", junk, err)
		}
	}
}

func TestNewRefusesAShortSecret(t *testing.T) {
	if _, err := New(strings.Repeat("x", MinSecretLen-1)); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("New of a 31-byte secret = %v, want an error naming the minimum", err)
	}
	if len(NewSecret()) < MinSecretLen {
		t.Fatal("NewSecret is shorter than New accepts")
	}
}
