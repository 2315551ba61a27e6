package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/tlsca"
)

// testPKI is a throwaway CA of the test's own, standing for mkcert's.
type testPKI struct {
	dir    string
	caFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key}
	p.caFile = p.write(t, "rootCA.pem", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaf issues a server certificate for hosts, valid from notBefore to
// notAfter, and writes it and its key; it returns their files and the
// certificate.
func (p *testPKI) leaf(t *testing.T, name string, notBefore, notAfter time.Time, hosts ...string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	cert, _ = x509.ParseCertificate(der)
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", keyDER), cert
}

// TestLoadAzureTLS: a certificate of the operator's own is checked at
// start, each refusal naming the flag at fault; without one, the private
// CA issues it.
func TestLoadAzureTLS(t *testing.T) {
	pki := newTestPKI(t, "Test CA")
	now := time.Now()
	good, goodKey, goodCert := pki.leaf(t, "good", now.Add(-time.Hour), now.Add(time.Hour), "127.0.0.1", "localhost")
	_, otherKey, _ := pki.leaf(t, "other", now.Add(-time.Hour), now.Add(time.Hour), "127.0.0.1")
	named, namedKey, _ := pki.leaf(t, "named", now.Add(-time.Hour), now.Add(time.Hour), "localhost")
	expired, expiredKey, _ := pki.leaf(t, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour), "127.0.0.1")
	stranger := newTestPKI(t, "Another CA")
	notPEM := filepath.Join(pki.dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	missing := filepath.Join(pki.dir, "missing.pem")

	cfg := func(cert, key, ca string) ServeConfig {
		return ServeConfig{DataDir: t.TempDir(), AzureListen: "127.0.0.1:8443", AzureTLSCert: cert, AzureTLSKey: key, AzureCAFile: ca}
	}
	listen := []azureName{{"127.0.0.1", "--azure-listen 127.0.0.1:8443"}}
	noCA := func() (*tlsca.CA, error) {
		t.Fatal("a private CA asked for beside the operator's certificate")
		return nil, nil
	}
	for _, tc := range []struct {
		name string
		cfg  ServeConfig
		host string
		want string
	}{
		{"missing certificate", cfg(missing, goodKey, pki.caFile), "127.0.0.1", "--azure-tls-cert: open " + missing},
		{"missing key", cfg(good, missing, pki.caFile), "127.0.0.1", "--azure-tls-key: open " + missing},
		{"a key for the certificate", cfg(goodKey, goodKey, pki.caFile), "127.0.0.1", "--azure-tls-cert " + goodKey + " holds no PEM certificate"},
		{"another certificate's key", cfg(good, otherKey, pki.caFile), "127.0.0.1", "--azure-tls-key " + otherKey + " is not the private key of --azure-tls-cert " + good},
		{"another host", cfg(named, namedKey, pki.caFile), "127.0.0.1", "--azure-tls-cert " + named + " does not cover 127.0.0.1, the host of --azure-listen 127.0.0.1:8443 (it covers localhost)"},
		{"another CA", cfg(good, goodKey, stranger.caFile), "127.0.0.1", "--azure-tls-cert " + good + " is not signed by a CA in --azure-ca-file " + stranger.caFile},
		{"expired", cfg(expired, expiredKey, pki.caFile), "127.0.0.1", "--azure-tls-cert " + expired + " is valid from"},
		{"a CA file that is not PEM", cfg(good, goodKey, notPEM), "127.0.0.1", "--azure-ca-file " + notPEM + " holds no PEM certificate"},
		{"a missing CA file", cfg(good, goodKey, missing), "127.0.0.1", "--azure-ca-file: open " + missing},
	} {
		_, err := loadAzureTLS(tc.cfg, []azureName{{tc.host, "--azure-listen 127.0.0.1:8443"}}, noCA)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Every name clients use must be covered, not only the listener's.
	_, err := loadAzureTLS(cfg(good, goodKey, pki.caFile), []azureName{{"azure.example.com", "--azure-url https://azure.example.com"}, listen[0]}, noCA)
	if err == nil || !strings.Contains(err.Error(), "does not cover azure.example.com, the host of --azure-url https://azure.example.com") {
		t.Errorf("a name the certificate does not cover: %v", err)
	}

	// The operator's own: served as is, trusted through the bundle, no
	// private CA offered to browsers, none created.
	c := cfg(good, goodKey, pki.caFile)
	got, err := loadAzureTLS(c, []azureName{{"localhost", "--azure-url https://localhost:8443"}, listen[0]}, noCA)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.cert.Certificate[0]) != string(goodCert.Raw) || got.caFile != pki.caFile || got.privateCA != nil {
		t.Fatalf("own certificate: caFile %s, privateCA %d bytes", got.caFile, len(got.privateCA))
	}
	if _, err := goodCert.Verify(x509.VerifyOptions{Roots: got.roots, DNSName: "localhost"}); err != nil {
		t.Fatalf("the roots do not verify the certificate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "azure-ca.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a private CA was created beside the operator's certificate: %v", err)
	}

	// Without one: the private CA's, offered to browsers.
	c = ServeConfig{DataDir: t.TempDir(), AzureListen: "127.0.0.1:0"}
	got, err = loadAzureTLS(c, listen, func() (*tlsca.CA, error) { return tlsca.LoadOrCreate(c.DataDir) })
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(c.DataDir, "azure-ca.pem"))
	if len(ca) == 0 || string(got.privateCA) != string(ca) || got.caFile != filepath.Join(c.DataDir, "azure-ca.pem") {
		t.Fatalf("private CA: caFile %s", got.caFile)
	}
	issued, err := x509.ParseCertificate(got.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := issued.Verify(x509.VerifyOptions{Roots: got.roots, DNSName: host}); err != nil {
			t.Errorf("the private CA's certificate for %s: %v", host, err)
		}
	}
}

// TestServeWithOwnAzureCertificate runs `peerplane serve` with a
// certificate made by a throwaway CA of the test's own, as mkcert makes
// them: the embedded Azure serves it, endpoints.json names the CA bundle,
// the reconciler's Azure client trusts it (a network turns READY), and so
// do the CLI and az (through az-env); the console offers no private CA. Then the binary refuses
// a certificate for another host at start, naming the flag.
func TestServeWithOwnAzureCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := peerplaneBinary(t)
	pki := newTestPKI(t, "mkcert-like CA")
	now := time.Now()
	cert, key, leaf := pki.leaf(t, "127.0.0.1+1", now.Add(-time.Hour), now.Add(24*time.Hour), "127.0.0.1", "localhost")
	dir := t.TempDir()
	home := t.TempDir()
	s := newServeProcess(t, bin, "", dir, isolatedEnv(home), "--data-dir", dir, "--demo", "--log-level", "info",
		"--azure-tls-cert", cert, "--azure-tls-key", key, "--azure-ca-file", pki.caFile)
	s.start()

	var eps struct {
		URL    string `json:"url"`
		CAFile string `json:"ca_file"`
	}
	readJSONFile(t, filepath.Join(dir, "endpoints.json"), &eps)
	if eps.CAFile != pki.caFile {
		t.Fatalf("endpoints.json ca_file %q, want the bundle %q", eps.CAFile, pki.caFile)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.caFile)
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(eps.URL, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to the embedded Azure, trusting only the test's CA: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if !served.Equal(leaf) {
		t.Fatalf("the embedded Azure serves %q, not the given certificate", served.Subject)
	}
	if _, err := os.Stat(filepath.Join(dir, "azure-ca.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a private CA was made beside the operator's certificate: %v", err)
	}
	resp, err := http.Get(s.apiURL + "/console/azure-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the console offers a private CA: %s", resp.Status)
	}

	// The reconciler creates the network's provider VNet through the Azure
	// SDK over that TLS; the CLI signs in to the embedded Azure through it.
	r := newCLIRunner(t, dir)
	r.run(t, "login", "--data-dir", dir)
	var env, n cliObj
	r.runJSON(t, &env, "environment", "create", "prod")
	r.run(t, "environment", "use", env.ID)
	r.runJSON(t, &n, "network", "create", "prod-net", "--cloud", "azure", "--region", "eastus", "--cidr", "10.10.0.0/16",
		"--connection-types", "peering", "--wait")
	if n.Status.Phase != "READY" {
		t.Fatalf("network create --wait: %+v", n)
	}
	r.run(t, "azure", "login", "--username", demoAdmin, "--password", demoAdminPass)
	// The real az, through az-env's REQUESTS_CA_BUNDLE (the bundle).
	t.Run("az", func(t *testing.T) {
		admin := newAzCLI(t, requireAz(t), dir, "admin")
		admin.run(t, "login", "--username", demoAdmin, "--password", demoAdminPass)
	})
	s.kill()

	// A certificate that does not cover --azure-listen's host: refused at
	// start, naming the flags.
	named, namedKey, _ := pki.leaf(t, "localhost", now.Add(-time.Hour), now.Add(24*time.Hour), "localhost")
	_, stderr, code := runProcess(t, time.Minute, "", isolatedEnv(home), bin, "serve", "--data-dir", t.TempDir(),
		"--listen", "127.0.0.1:0", "--azure-listen", "127.0.0.1:0", "--azure-tls-cert", named, "--azure-tls-key", namedKey, "--azure-ca-file", pki.caFile)
	if code == 0 || !strings.Contains(stderr, "--azure-tls-cert "+named+" does not cover 127.0.0.1, the host of --azure-listen") {
		t.Fatalf("serve with a certificate for another host: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runProcess(t, time.Minute, "", isolatedEnv(home), bin, "serve", "--data-dir", t.TempDir(),
		"--listen", "127.0.0.1:0", "--azure-listen", "127.0.0.1:0", "--azure-tls-cert", cert)
	if code == 0 || !strings.Contains(stderr, "--azure-tls-key go together") {
		t.Fatalf("serve with a certificate and no key: exit %d\n%s", code, stderr)
	}
}

// TestConsoleReturnURLs: the console's reply URLs are on the hosts a
// browser names a loopback listener by; a listener on another address gets
// none, since Entra ID takes plain-http reply URLs on loopback only.
func TestConsoleReturnURLs(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"127.0.0.1:8080", []string{"http://127.0.0.1:8080/console/consent-return", "http://localhost:8080/console/consent-return"}},
		{"[::1]:8080", []string{"http://[::1]:8080/console/consent-return", "http://localhost:8080/console/consent-return"}},
		{"0.0.0.0:9", []string{"http://127.0.0.1:9/console/consent-return", "http://localhost:9/console/consent-return"}},
		{"[::]:9", []string{"http://127.0.0.1:9/console/consent-return", "http://localhost:9/console/consent-return"}},
		{"10.0.0.5:8080", nil},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := consoleReturnURLs(addr); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: %q, want %q", tc.addr, got, tc.want)
		}
	}
}
