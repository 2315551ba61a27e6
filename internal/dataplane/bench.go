package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// What `peerplane bench --dataplane` measures the data plane against, in
// the same run: the same namespaces joined by a bare veth, and bare
// namespaces and veths made with nothing else.

// BareLink joins the namespaces of hosts a and b directly by a veth with
// link-local addresses, bypassing their VNets' namespaces, rules and
// routes: the limit a path through a peering is measured against. remove
// deletes it.
func (p *Plane) BareLink(a, b *Host) (addrA, addrB netip.Addr, remove func() error, err error) {
	addrA, addrB = netip.MustParseAddr("169.254.250.1"), netip.MustParseAddr("169.254.250.2")
	nsA, nsB := a.NetNS(), b.NetNS()
	if nsA == "" || nsB == "" {
		return addrA, addrB, nil, errors.New("a host has no namespace")
	}
	if err := p.k.bareLink(nsA, nsB, addrA, addrB); err != nil {
		return addrA, addrB, nil, err
	}
	return addrA, addrB, func() error { return p.k.delLinkPath(nsA, bareIf) }, nil
}

// bareIf is the name of a bare link's interfaces.
const bareIf = "bare0"

// MeasureBare makes n namespaces named with dataDir's prefix, joins them
// in a ring of n veths, then deletes them, and returns how long each took:
// the least a data plane of n VNets and n peerings can cost here.
func MeasureBare(ctx context.Context, dataDir string, n int) (build, teardown time.Duration, err error) {
	k, err := newKernel()
	if err != nil {
		return 0, 0, err
	}
	prefix := Prefix(dataDir) + "-bare-"
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	defer func() {
		for _, name := range names {
			_ = k.deleteNS(name)
		}
	}()
	start := time.Now()
	for _, name := range names {
		if err := k.createNS(name, func() error { return nil }); err != nil {
			return 0, 0, err
		}
	}
	for i := range names {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if err := k.addLink(names[i], names[(i+1)%n], fmt.Sprintf("r%d", i), fmt.Sprintf("l%d", i), routerAddr(i), routerAddr(i+1)); err != nil {
			return 0, 0, err
		}
	}
	build = time.Since(start)
	start = time.Now()
	for i := range names {
		if err := k.delLink(names[i], fmt.Sprintf("r%d", i)); err != nil {
			return 0, 0, err
		}
	}
	for _, name := range names {
		if err := k.deleteNS(name); err != nil {
			return 0, 0, err
		}
	}
	return build, time.Since(start), nil
}
