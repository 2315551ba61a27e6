package privatedns_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/peerplane/peerplane/internal/privatedns"
)

type zone map[string][]netip.Addr

func (z zone) LookupHost(name string) []netip.Addr {
	return z[strings.TrimSuffix(strings.ToLower(name), ".")]
}

const name = "lkc-abc123-def456.eastus.azure.private.confluent.cloud"

var brokers = []netip.Addr{netip.MustParseAddr("10.40.20.4"), netip.MustParseAddr("10.40.20.5")}

// serve runs the handler on a loopback UDP port and returns its address.
func serve(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: privatedns.Handler{Zone: zone{name: brokers}}}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestHandler: A records for a cluster's name (any case), an empty answer
// for AAAA, NXDOMAIN for other names, never recursion.
func TestHandler(t *testing.T) {
	addr := serve(t)
	ask := func(q string, typ uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(q), typ)
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return r
	}
	r := ask(strings.ToUpper(name), dns.TypeA)
	var got []string
	for _, rr := range r.Answer {
		got = append(got, rr.(*dns.A).A.String())
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.RecursionAvailable || !slices.Equal(got, []string{"10.40.20.4", "10.40.20.5"}) {
		t.Fatalf("A %s: rcode %d, answers %v", name, r.Rcode, got)
	}
	if r := ask(name, dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("AAAA: rcode %d, %v", r.Rcode, r.Answer)
	}
	for _, q := range []string{"lkc-nope.eastus.azure.private.confluent.cloud", "example.com"} {
		if r := ask(q, dns.TypeA); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
			t.Fatalf("%s: rcode %d, %v", q, r.Rcode, r.Answer)
		}
	}
}

// redirectHost is a host whose dials to the resolver go to the test
// server and whose other dials are recorded.
type redirectHost struct {
	dnsAddr string
	dialed  []string
}

func (h *redirectHost) Do(fn func() error) error { return fn() }
func (h *redirectHost) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return nil, net.ErrClosed
}
func (h *redirectHost) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return nil, net.ErrClosed
}
func (h *redirectHost) Done() <-chan struct{} { return nil }
func (h *redirectHost) DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	if address == netip.AddrPortFrom(privatedns.ResolverAddr, 53).String() {
		return d.DialContext(ctx, network, h.dnsAddr)
	}
	h.dialed = append(h.dialed, address)
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.ErrClosed}
}

// TestDialContext: Go code dialing a cluster's name from a host resolves
// it through the host's resolver and tries each broker; an address is
// dialed as is, an unknown name fails to resolve.
func TestDialContext(t *testing.T) {
	h := &redirectHost{dnsAddr: serve(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := privatedns.DialContext(ctx, h, &net.Dialer{}, "tcp", name+":9092"); err == nil {
		t.Fatal("the dial succeeded; the host refuses every connection")
	}
	if !slices.Equal(h.dialed, []string{"10.40.20.4:9092", "10.40.20.5:9092"}) {
		t.Fatalf("dialed %v, want each broker in order", h.dialed)
	}
	h.dialed = nil
	privatedns.DialContext(ctx, h, &net.Dialer{}, "tcp", "10.1.2.3:80")
	if !slices.Equal(h.dialed, []string{"10.1.2.3:80"}) {
		t.Fatalf("an address: dialed %v", h.dialed)
	}
	var dnsErr *net.DNSError
	if _, err := privatedns.DialContext(ctx, h, &net.Dialer{}, "tcp", "nope.example:80"); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("an unknown name: %v, want not found", err)
	}
}
