package dataplane

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/peerplane/peerplane/internal/reach"
)

// ProbeSpec is a TCP connection attempt from one address to another, each
// in a VNet.
type ProbeSpec struct {
	SourceVNet, DestinationVNet string
	Source, Destination         netip.Addr
	Port                        int
	// SourcePort is the port to connect from; 0 picks one from 49152-65535.
	SourcePort int
	// Timeout is how long to wait for an answer; 0 means 2 s.
	Timeout time.Duration
}

// DefaultProbeTimeout is how long a probe waits for the destination's
// answer before calling the packets dropped.
const DefaultProbeTimeout = 2 * time.Second

// Probe makes a real connection attempt as s says, once the kernel
// matches the current state (Resync). Each end is the host already
// holding its address, or a host the probe claims for the attempt (then
// the destination listens on the port). An address that cannot hold a
// host (reserved, in no subnet) is NOT_PROBED, saying why.
func (p *Plane) Probe(ctx context.Context, s ProbeSpec) reach.Probe {
	if s.Timeout <= 0 {
		s.Timeout = DefaultProbeTimeout
	}
	if err := p.Resync(ctx); err != nil {
		return reach.Probe{Outcome: reach.ProbeError, Detail: fmt.Sprintf("The data plane could not apply Azure's current state: %v.", err)}
	}
	src, release, err := p.probeHost(ctx, s.SourceVNet, s.Source)
	if err != nil {
		return notProbed("source", s.Source, err)
	}
	defer release()
	dst, release2, err := p.probeHost(ctx, s.DestinationVNet, s.Destination)
	if err != nil {
		return notProbed("destination", s.Destination, err)
	}
	defer release2()
	if dst.Owner == probeOwner {
		ln, err := dst.Listen(ctx, "tcp4", fmt.Sprintf(":%d", s.Port))
		if err != nil {
			return reach.Probe{Outcome: reach.ProbeError, Detail: fmt.Sprintf("Listening on %s:%d: %v.", s.Destination, s.Port, err)}
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	res := reach.Probe{SourcePort: s.SourcePort}
	target := netip.AddrPortFrom(s.Destination, uint16(s.Port)).String()
	var dialErr error
	start := time.Now()
	for attempt := 0; attempt < 8; attempt++ {
		if s.SourcePort == 0 {
			res.SourcePort = 49152 + rand.IntN(65536-49152)
		}
		dctx, cancel := context.WithTimeout(ctx, s.Timeout)
		start = time.Now()
		var c net.Conn
		c, dialErr = src.DialContext(dctx, &net.Dialer{LocalAddr: &net.TCPAddr{IP: s.Source.AsSlice(), Port: res.SourcePort}}, "tcp4", target)
		cancel()
		if c != nil {
			c.Close()
		}
		if s.SourcePort != 0 || !errors.Is(dialErr, syscall.EADDRINUSE) {
			break
		}
	}
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	from := fmt.Sprintf("%s:%d", s.Source, res.SourcePort)
	var ne net.Error
	switch {
	case dialErr == nil:
		res.Outcome, res.Reached = reach.ProbeConnected, true
		res.Detail = fmt.Sprintf("A TCP connection from %s to %s was established.", from, target)
	case errors.Is(dialErr, syscall.ECONNREFUSED):
		res.Outcome, res.Reached = reach.ProbeRefused, true
		res.Detail = fmt.Sprintf("The host at %s answered the connection from %s with a reset: the packets got there, but nothing listens on port %d.", s.Destination, from, s.Port)
	case errors.Is(dialErr, syscall.EHOSTUNREACH), errors.Is(dialErr, syscall.ENETUNREACH):
		res.Outcome = reach.ProbeNoRoute
		res.Detail = fmt.Sprintf("The connection from %s to %s failed: %v (no route between the VNets, or no host at the destination).", from, target, unwrapSyscall(dialErr))
	case errors.Is(dialErr, context.DeadlineExceeded), errors.As(dialErr, &ne) && ne.Timeout():
		if ctx.Err() != nil {
			return reach.Probe{Outcome: reach.ProbeError, Detail: "The probe was cancelled."}
		}
		res.Outcome = reach.ProbeTimedOut
		res.Detail = fmt.Sprintf("The connection from %s to %s got no answer within %s: the packets were dropped on the way (a security rule).", from, target, s.Timeout)
	default:
		res.Outcome = reach.ProbeError
		res.Detail = fmt.Sprintf("The connection from %s to %s failed: %v.", from, target, dialErr)
	}
	return res
}

// probeOwner owns the hosts a probe claims.
const probeOwner = "probe"

// probeHost returns the host holding a in vnetID, or claims one for the
// probe; release gives a claimed one back.
func (p *Plane) probeHost(ctx context.Context, vnetID string, a netip.Addr) (*Host, func(), error) {
	for range 3 {
		p.mu.Lock()
		var found *Host
		for h := range p.hosts {
			if h.Addr == a && strings.EqualFold(h.VNetID, vnetID) {
				found = h
			}
		}
		p.mu.Unlock()
		if found != nil {
			select {
			case <-found.ready:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			if found.Err() == nil {
				return found, func() {}, nil
			}
			continue
		}
		h, err := p.Claim(ctx, ClaimSpec{VNetID: vnetID, Addr: a, Owner: probeOwner})
		var ce *ClaimError
		if errors.As(err, &ce) && ce.Code == ClaimConflict {
			continue // claimed meanwhile: use that host
		}
		if err != nil {
			return nil, nil, err
		}
		return h, h.Release, nil
	}
	return nil, nil, fmt.Errorf("%s is changing hands; try again", a)
}

func notProbed(which string, a netip.Addr, err error) reach.Probe {
	return reach.Probe{Outcome: reach.ProbeSkipped, Detail: fmt.Sprintf("No host could be placed at the %s %s: %v", which, a, strings.TrimSuffix(err.Error(), ".")) + "."}
}

func unwrapSyscall(err error) error {
	var se syscall.Errno
	if errors.As(err, &se) {
		return se
	}
	return err
}
