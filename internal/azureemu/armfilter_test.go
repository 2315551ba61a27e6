package azureemu

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/peerplane/peerplane/internal/tlsca"
)

// protoRecorder is an SDK transport that remembers the protocol of the
// last response.
type protoRecorder struct {
	c     *http.Client
	proto string
}

func (p *protoRecorder) Do(r *http.Request) (*http.Response, error) {
	resp, err := p.c.Do(r)
	if err == nil {
		p.proto = resp.Proto
	}
	return resp, err
}

// TestUnencodedFilterOverServeTLS lists role assignments with the $filter
// armauthorization sends unencoded ("principalId eq '…'", raw spaces in
// the query) against an emulator served as `peerplane serve` serves it:
// http.Server.ServeTLS with a certificate from the data directory's CA, so
// HTTP/2 is negotiated, and a client configured like serve's.
//
// Over HTTP/2 the path is a header value and the spaces arrive intact. Over
// HTTP/1.1 they split the request line, and net/http answers a bare
// "400 Bad Request" before the emulator sees the request: a Go client that
// cannot negotiate HTTP/2 (a Transport with its own TLSClientConfig and
// without ForceAttemptHTTP2, or GODEBUG=http2client=0) must encode the
// filter itself. The az CLI encodes its URLs, so it is not affected.
func TestUnencodedFilterOverServeTLS(t *testing.T) {
	ctx := context.Background()
	ca, err := tlsca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate("127.0.0.1", "::1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + ln.Addr().String()
	e, err := New(ctx, Options{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})

	te := &testEmu{Emulator: e}
	te.seedTwoTenants(t)
	admin := te.userID(t, testCustomerAdmin)
	cred := te.credFor(testCustomerTenant, admin, true)
	list := func(h2 bool) (*protoRecorder, int, error) {
		rec := &protoRecorder{c: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2}}}
		opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: base + "/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Audience: "https://management.core.windows.net/", Endpoint: base}}},
			Transport: rec,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		}}
		defer rec.c.CloseIdleConnections()
		ac, err := armauthorization.NewRoleAssignmentsClient(testCustomerSub, cred, opts)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		pager := ac.NewListForScopePager("/subscriptions/"+testCustomerSub, &armauthorization.RoleAssignmentsClientListForScopeOptions{
			Filter: to.Ptr("principalId eq '" + admin + "'")})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return rec, n, err
			}
			n += len(page.Value)
		}
		return rec, n, nil
	}

	rec, n, err := list(true)
	if err != nil {
		t.Fatalf("over HTTP/2: %v", err)
	}
	if rec.proto != "HTTP/2.0" || n != 1 {
		t.Fatalf("over %s: %d assignments of the admin, want 1 over HTTP/2.0", rec.proto, n)
	}
	rec, _, err = list(false)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		t.Fatalf("over HTTP/1.1: %v, want net/http's 400", err)
	}
	if rec.proto != "HTTP/1.1" {
		t.Fatalf("the HTTP/1.1 client spoke %s", rec.proto)
	}
}
