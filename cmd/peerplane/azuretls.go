package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/console"
	"github.com/peerplane/peerplane/internal/tlsca"
)

// azureTLS is how the embedded Azure serves HTTPS and how its clients (the
// reconciler, the CLI, az, a browser) come to trust it.
type azureTLS struct {
	cert tls.Certificate
	// roots verify cert: the private CA, or --azure-ca-file's bundle.
	roots *x509.CertPool
	// caFile is the PEM file of roots, written to endpoints.json for the
	// CLI and az (REQUESTS_CA_BUNDLE).
	caFile string
	// privateCA is the private CA's certificate (PEM) when it issued
	// cert, for the console to offer browsers; nil with the operator's own
	// certificate.
	privateCA []byte
}

// azureName is a host clients reach the embedded Azure by, and the flag
// that names it ("--azure-listen 127.0.0.1:8443"), for errors.
type azureName struct{ host, flag string }

// loadAzureTLS returns the embedded Azure's certificate: with
// --azure-tls-cert and --azure-tls-key, the operator's own, checked at
// start against --azure-ca-file and every one of names; otherwise one
// that privateCA issues for names and loopback. Errors name the flag at
// fault.
func loadAzureTLS(cfg ServeConfig, names []azureName, privateCA func() (*tlsca.CA, error)) (*azureTLS, error) {
	if cfg.AzureTLSCert == "" {
		ca, err := privateCA()
		if err != nil {
			return nil, fmt.Errorf("certificate authority: %w", err)
		}
		var hosts []string
		for _, n := range names {
			hosts = append(hosts, n.host)
		}
		cert, err := ca.ServerCertificate(append(hosts, "127.0.0.1", "::1", "localhost")...)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		return &azureTLS{cert: cert, roots: ca.Pool(), caFile: ca.CertPath, privateCA: ca.CertPEM}, nil
	}
	certPEM, err := os.ReadFile(cfg.AzureTLSCert)
	if err != nil {
		return nil, fmt.Errorf("--azure-tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.AzureTLSKey)
	if err != nil {
		return nil, fmt.Errorf("--azure-tls-key: %w", err)
	}
	var chain []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--azure-tls-cert %s: %w", cfg.AzureTLSCert, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("--azure-tls-cert %s holds no PEM certificate", cfg.AzureTLSCert)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--azure-tls-key %s is not the private key of --azure-tls-cert %s: %w", cfg.AzureTLSKey, cfg.AzureTLSCert, err)
	}
	bundle, err := os.ReadFile(cfg.AzureCAFile)
	if err != nil {
		return nil, fmt.Errorf("--azure-ca-file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("--azure-ca-file %s holds no PEM certificate", cfg.AzureCAFile)
	}
	leaf := chain[0]
	for _, n := range names {
		if err := leaf.VerifyHostname(n.host); err != nil {
			return nil, fmt.Errorf("--azure-tls-cert %s does not cover %s, the host of %s (it covers %s): make one that does, such as `mkcert %s`, or use a host it covers",
				cfg.AzureTLSCert, n.host, n.flag, certNames(leaf), n.host)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		var ua x509.UnknownAuthorityError
		var inv x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			return nil, fmt.Errorf("--azure-tls-cert %s is not signed by a CA in --azure-ca-file %s (mkcert's is $(mkcert -CAROOT)/rootCA.pem)", cfg.AzureTLSCert, cfg.AzureCAFile)
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			return nil, fmt.Errorf("--azure-tls-cert %s is valid from %s to %s, not now", cfg.AzureTLSCert, leaf.NotBefore.Format(time.DateOnly), leaf.NotAfter.Format(time.DateOnly))
		}
		return nil, fmt.Errorf("--azure-tls-cert %s does not verify against --azure-ca-file %s: %w", cfg.AzureTLSCert, cfg.AzureCAFile, err)
	}
	caFile, err := filepath.Abs(cfg.AzureCAFile)
	if err != nil {
		return nil, fmt.Errorf("--azure-ca-file: %w", err)
	}
	return &azureTLS{cert: cert, roots: roots, caFile: caFile}, nil
}

// certNames lists the names and addresses a certificate covers.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no host name"
	}
	return strings.Join(names, ", ")
}

// azureHost is the host of the embedded Azure's URL: --azure-listen's,
// or 127.0.0.1 when it listens on every address.
func azureHost(listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// consoleReturnURLs are the console's consent-return route on the hosts a
// browser may name the API listener at addr by: its loopback address and
// localhost (both, when it listens on every address). They are nil when
// it listens on another address: Entra ID accepts plain-http reply URLs
// on loopback only, so the consent page then has no way back.
func consoleReturnURLs(addr net.Addr) []string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := fmt.Sprint(tcp.Port)
	var hosts []string
	switch {
	case tcp.IP.IsUnspecified():
		hosts = []string{"127.0.0.1", "localhost"}
	case tcp.IP.IsLoopback():
		hosts = []string{tcp.IP.String(), "localhost"}
	default:
		return nil
	}
	var urls []string
	for _, h := range hosts {
		urls = append(urls, "http://"+net.JoinHostPort(h, port)+console.ConsentReturnPath)
	}
	return urls
}
