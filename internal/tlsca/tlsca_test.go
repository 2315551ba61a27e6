package tlsca

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateServesTrustedTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Fatal("second load made a new CA")
	}
	cert, err := again.ServerCertificate("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("client trusting the CA: %v", err)
	}
	resp.Body.Close()
	if _, err := http.Get(srv.URL); err == nil {
		t.Fatal("a client without the CA trusted the certificate")
	}
}

// TestParseRoundTripsACA: a CA kept as PEM bytes (in a database) comes
// back as the same CA, and its certificates are trusted by clients of the
// original; a key of another CA is refused.
func TestParseRoundTripsACA(t *testing.T) {
	ca, err := New()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !again.Cert.Equal(ca.Cert) || !again.Key.Equal(ca.Key) {
		t.Fatal("Parse returned another CA")
	}
	cert, err := again.ServerCertificate("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err != nil {
		t.Fatalf("a certificate of the parsed CA is not trusted by the original's pool: %v", err)
	}

	other, err := New()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := other.KeyPEM()
	if _, err := Parse(ca.CertPEM, otherKey); err == nil {
		t.Fatal("Parse accepted another CA's key")
	}
	if _, err := Parse([]byte("junk"), keyPEM); err == nil {
		t.Fatal("Parse accepted a certificate that is not PEM")
	}

	dir := t.TempDir()
	if err := again.WriteCert(dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, CertFile)); err != nil || !bytes.Equal(b, ca.CertPEM) || again.CertPath != filepath.Join(dir, CertFile) {
		t.Fatalf("WriteCert wrote %q (%v), CertPath %q", b, err, again.CertPath)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteCert wrote the key too: %v", err)
	}
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a directory without the key = %v, want os.ErrNotExist", err)
	}
}
