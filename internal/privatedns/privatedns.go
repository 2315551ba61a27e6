// Package privatedns is the DNS resolver of the embedded Azure's VNets:
// like Azure's (168.63.129.16, in every VNet), it answers the private
// names of the Kafka clusters — as a private DNS zone linked to every VNet
// would — so that a client in any VNet resolves
// lkc-….<region>.azure.private.<domain> to the cluster's broker addresses.
// Whether the connection then succeeds is the network's business.
//
// The resolver is attached to each host the data plane makes for a
// program (Attach): the host's loopback gets ResolverAddr, and UDP and TCP
// listeners on port 53 there answer until the host is gone. `peerplane
// vnet exec` points the program's /etc/resolv.conf at it. Go code that
// dials from a host resolves through it with Resolver or DialContext.
package privatedns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ResolverAddr is where every VNet's resolver answers, as Azure's
// virtual public IP for its DNS.
var ResolverAddr = netip.MustParseAddr("168.63.129.16")

// Zone answers names: the addresses a name resolves to, or nil.
type Zone interface {
	LookupHost(name string) []netip.Addr
}

// TTL of the answers, in seconds: short, as names come and go with
// clusters.
const TTL = 10

// Handler answers DNS queries from zone: A records for its names (in the
// order the zone gives), an empty answer for other types of a known name,
// NXDOMAIN for any other name. It does not recurse: there is no Internet
// behind the embedded Azure.
type Handler struct {
	Zone Zone
	Log  *slog.Logger
}

// ServeDNS implements dns.Handler.
func (h Handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = false
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		m.SetRcode(req, dns.RcodeNotImplemented)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	addrs := h.Zone.LookupHost(q.Name)
	switch {
	case len(addrs) == 0:
		m.SetRcode(req, dns.RcodeNameError)
	case q.Qclass != dns.ClassINET:
	case q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY:
		for _, a := range addrs {
			if a.Is4() {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: TTL}, A: a.AsSlice()})
			}
		}
	}
	if err := w.WriteMsg(m); err != nil && h.Log != nil {
		h.Log.Debug("write a DNS answer", "err", err)
	}
}

// Host is a host of the data plane (a *dataplane.Host).
type Host interface {
	// Do runs fn in the host's network namespace.
	Do(fn func() error) error
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
	DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error)
	// Done is closed when the host is gone.
	Done() <-chan struct{}
}

// Attach makes h answer DNS at ResolverAddr:53 (UDP and TCP) from zone
// until h is gone. It fails when the address cannot be added to the
// host's loopback (not Linux, no privilege) or the port is taken.
func Attach(h Host, zone Zone, log *slog.Logger) error {
	if err := h.Do(addLoopback); err != nil {
		return fmt.Errorf("resolver address: %w", err)
	}
	addr := netip.AddrPortFrom(ResolverAddr, 53).String()
	ctx := context.Background()
	pc, err := h.ListenPacket(ctx, "udp4", addr)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	ln, err := h.Listen(ctx, "tcp4", addr)
	if err != nil {
		pc.Close()
		return fmt.Errorf("resolver: %w", err)
	}
	handler := Handler{Zone: zone, Log: log}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler, ReadTimeout: 5 * time.Second}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	go func() {
		<-h.Done()
		udp.Shutdown()
		tcp.Shutdown()
	}()
	return nil
}

// Resolver returns a resolver that asks h's resolver (attached with
// Attach) from inside h's network: for Go code that dials from a host.
func Resolver(h Host) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return h.DialContext(ctx, &net.Dialer{Timeout: 5 * time.Second}, network, netip.AddrPortFrom(ResolverAddr, 53).String())
	}}
}

// DialContext connects from h to address ("host:port"), resolving a name
// through h's resolver first and trying its addresses in order.
func DialContext(ctx context.Context, h Host, d *net.Dialer, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return h.DialContext(ctx, d, network, address)
	}
	addrs, err := Resolver(h).LookupNetIP(ctx, "ip4", strings.TrimSuffix(host, "."))
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, a := range addrs {
		c, err := h.DialContext(ctx, d, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
