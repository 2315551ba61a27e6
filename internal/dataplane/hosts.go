package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// ErrClosed is the error of claims on a closed plane and of the hosts it
// released when it closed.
var ErrClosed = errors.New("the data plane is closed")

// ClaimError is a claim the plane refuses; Code says why and Field names
// the input at fault.
type ClaimError struct {
	Code    string // ClaimNotFound, ClaimInvalid or ClaimConflict
	Field   string // "vnet", "ip" or "subnet"
	Message string
}

// ClaimError codes.
const (
	ClaimNotFound = "not_found"
	ClaimInvalid  = "invalid"
	ClaimConflict = "conflict"
)

func (e *ClaimError) Error() string { return e.Message }

// RevokedError ends a host whose place went away: its VNet was deleted,
// or its address is no longer in one of the VNet's subnets.
type RevokedError struct{ Reason string }

func (e *RevokedError) Error() string { return "the host was removed: " + e.Reason }

// ClaimSpec asks for a host in a VNet.
type ClaimSpec struct {
	// VNetID is the VNet's resource id (case-insensitive).
	VNetID string
	// Addr is the host's address; the zero Addr picks a free one.
	Addr netip.Addr
	// Subnet, when set, is the subnet to pick a free address in.
	Subnet string
	// Owner says who holds the host, for logs.
	Owner string
}

// Host is an address claimed in a VNet: a network namespace with that
// address, joined to the VNet's namespace, where programs run as a host
// of the VNet (Do, Listen, DialContext, or any process that enters
// NetNS). It lives until Release, or until the plane removes it (its VNet
// deleted, its subnet gone, the plane closed): Done is closed then and Err
// says why.
type Host struct {
	p      *Plane
	VNetID string
	VName  string
	Addr   netip.Addr
	Owner  string

	mu     sync.Mutex
	pl     placement
	netns  string
	ready  chan struct{} // closed once made, or failed (err set)
	done   chan struct{} // closed when released or removed
	err    error
	isDone bool
}

// Subnet is the name of the subnet holding the host ("" in a VNet without
// subnets).
func (h *Host) Subnet() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pl.subnet
}

// NetNS is the path of the host's network namespace
// (/run/netns/<prefix>-h-…).
func (h *Host) NetNS() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.netns
}

// Done is closed when the host is gone.
func (h *Host) Done() <-chan struct{} { return h.done }

// Err says why the host is gone: nil after Release, ErrClosed, a
// *RevokedError, or the failure that ended it; nil while it lives.
func (h *Host) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *Host) placement() placement {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pl
}

func (h *Host) setPlacement(pl placement) {
	h.mu.Lock()
	h.pl = pl
	h.mu.Unlock()
}

func (h *Host) setNS(path string) {
	h.mu.Lock()
	h.netns = path
	h.mu.Unlock()
}

func (h *Host) markReady() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

// finish ends the host with err (nil for a release).
func (h *Host) finish(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.isDone {
		return
	}
	h.isDone, h.err = true, err
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
	close(h.done)
}

// Release gives the address back; the host's namespace is removed. It is
// idempotent.
func (h *Host) Release() {
	p := h.p
	p.mu.Lock()
	_, held := p.hosts[h]
	delete(p.hosts, h)
	if held {
		p.gen++
	}
	p.mu.Unlock()
	h.finish(nil)
	if held {
		p.poke()
		p.log.Info("host released", "vnet", h.VName, "ip", h.Addr, "owner", h.Owner)
	}
}

// Do runs fn on a thread inside the host's namespace: sockets fn opens
// stay in it.
func (h *Host) Do(fn func() error) error {
	ns := h.NetNS()
	if ns == "" {
		return errors.New("the host has no namespace")
	}
	select {
	case <-h.done:
		return fmt.Errorf("host %s: %w", h.Addr, h.gone())
	default:
	}
	return h.p.k.doPath(ns, fn)
}

func (h *Host) gone() error {
	if err := h.Err(); err != nil {
		return err
	}
	return errors.New("released")
}

// Listen listens on the host's address: address is ":port" or
// "<host address>:port"; network is "tcp" or "tcp4".
func (h *Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return inHost(h, address, func(addr string) (net.Listener, error) {
		return (&net.ListenConfig{}).Listen(ctx, network, addr)
	})
}

// ListenPacket is Listen for "udp" or "udp4".
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	return inHost(h, address, func(addr string) (net.PacketConn, error) {
		return (&net.ListenConfig{}).ListenPacket(ctx, network, addr)
	})
}

// inHost runs open in h's namespace with address completed by the host's
// address.
func inHost[T any](h *Host, address string, open func(addr string) (T, error)) (T, error) {
	var v T
	addr, err := h.localAddr(address)
	if err != nil {
		return v, err
	}
	err = h.Do(func() error {
		var oerr error
		v, oerr = open(addr)
		return oerr
	})
	return v, err
}

func (h *Host) localAddr(address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = h.Addr.String()
	}
	return net.JoinHostPort(host, port), nil
}

// DialContext connects from the host to address (an IP address and port)
// with d's settings; the connection's socket lives in the host's
// namespace.
func (h *Host) DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	var c net.Conn
	err := h.Do(func() error {
		var derr error
		c, derr = d.DialContext(ctx, network, address)
		return derr
	})
	return c, err
}

// Claim makes a host in a VNet of the current snapshot and returns it
// once its namespace exists. It returns a *ClaimError when the VNet is
// not in the snapshot, the address is not IPv4, is in no subnet, is one
// of the five addresses Azure reserves in a subnet, or is taken (or no
// free address is left), and ErrClosed on a closed plane.
func (p *Plane) Claim(ctx context.Context, s ClaimSpec) (*Host, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	h, err := p.reserve(s)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.hosts[h] = true
	p.gen++
	p.mu.Unlock()
	p.poke()
	select {
	case <-h.ready:
	case <-ctx.Done():
		h.Release()
		return nil, ctx.Err()
	}
	if err := h.Err(); err != nil {
		return nil, err
	}
	select {
	case <-h.done:
		return nil, h.gone()
	default:
	}
	p.log.Info("host claimed", "vnet", h.VName, "ip", h.Addr, "subnet", h.Subnet(), "owner", h.Owner, "netns", h.NetNS())
	return h, nil
}

// reserve checks s against the current world and the claimed addresses,
// under p.mu.
func (p *Plane) reserve(s ClaimSpec) (*Host, error) {
	v := p.w.vnet(s.VNetID)
	if v == nil {
		return nil, &ClaimError{Code: ClaimNotFound, Field: "vnet", Message: fmt.Sprintf("VNet %s was not found in the embedded Azure.", s.VNetID)}
	}
	taken := func(a netip.Addr) bool {
		for h := range p.hosts {
			if h.Addr == a && strings.EqualFold(h.VNetID, v.id) {
				return true
			}
		}
		return false
	}
	a := s.Addr.Unmap()
	if a.IsValid() {
		if !a.Is4() {
			return nil, &ClaimError{Code: ClaimInvalid, Field: "ip", Message: fmt.Sprintf("%s is not an IPv4 address.", s.Addr)}
		}
		pl, why := place(v, a)
		if why != "" {
			return nil, &ClaimError{Code: ClaimInvalid, Field: "ip", Message: fmt.Sprintf("%s %s.", a, why)}
		}
		if s.Subnet != "" && !strings.EqualFold(pl.subnet, s.Subnet) {
			return nil, &ClaimError{Code: ClaimInvalid, Field: "ip", Message: fmt.Sprintf("%s is in subnet %s, not %s.", a, pl.subnet, s.Subnet)}
		}
		if taken(a) {
			return nil, &ClaimError{Code: ClaimConflict, Field: "ip", Message: fmt.Sprintf("%s is already in use in VNet %s.", a, v.name)}
		}
	} else {
		pools, ok := usable(v, s.Subnet)
		if !ok {
			return nil, &ClaimError{Code: ClaimNotFound, Field: "subnet", Message: fmt.Sprintf("VNet %s has no subnet %s.", v.name, s.Subnet)}
		}
		a = pickFree(pools, func(a netip.Addr) bool {
			pl, why := place(v, a)
			return why == "" && (s.Subnet == "" || strings.EqualFold(pl.subnet, s.Subnet)) && !taken(a)
		})
		if !a.IsValid() {
			return nil, &ClaimError{Code: ClaimConflict, Field: "ip", Message: fmt.Sprintf("VNet %s has no free address left in its subnets.", v.name)}
		}
	}
	return &Host{p: p, VNetID: v.id, VName: v.name, Addr: a, Owner: s.Owner,
		ready: make(chan struct{}), done: make(chan struct{})}, nil
}

// pickFree returns the first address of pools for which ok holds,
// looking at most at a few thousand per prefix.
func pickFree(pools []netip.Prefix, ok func(netip.Addr) bool) netip.Addr {
	for _, p := range pools {
		a := p.Masked().Addr()
		for i := 0; i < 4096 && p.Contains(a); i++ {
			if ok(a) {
				return a
			}
			a = a.Next()
		}
	}
	return netip.Addr{}
}
