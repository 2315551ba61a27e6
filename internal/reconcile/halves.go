package reconcile

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
)

// halfCacheTTL is how long a list of a provider VNet's halves serves the
// overlap checks of new peerings before it is read again.
const halfCacheTTL = 2 * time.Second

// halfCache keeps the recent list of each provider VNet's peering halves
// for the address-space check of new peerings: without it each new peering
// lists every half of its network's provider VNet (up to 500), and a burst
// of K new peerings on one network costs K² halves rendered, decoded and
// compared. Only the leading reconciler writes provider halves, so it keeps
// the lists current through its own writes (put, remove); a list older than
// halfCacheTTL is read again, which bounds what it can miss of changes made
// elsewhere (a customer widening a peered VNet). What it misses, Azure's
// own overlap check refuses when the half is created, and the reconciler
// reports that refusal the same way. The checks never take a peering's own
// half from here: its state changes with the customer's half.
type halfCache struct {
	az  Azure
	now func() time.Time

	mu sync.Mutex
	m  map[string]*halfList // by lower-cased provider VNet id
}

// halfList is one VNet's halves, by lower-cased name, read at at; ready is
// closed once the read is done (err is its failure).
type halfList struct {
	ready  chan struct{}
	at     time.Time
	err    error
	halves map[string]*azure.PeeringHalf
}

func newHalfCache(az Azure, now func() time.Time) *halfCache {
	return &halfCache{az: az, now: now, m: map[string]*halfList{}}
}

// list returns the halves of tenant's VNet vnet, read at most halfCacheTTL
// ago; callers arriving while it is read wait for that one read.
func (c *halfCache) list(ctx context.Context, tenant, vnet string) ([]*azure.PeeringHalf, error) {
	k := strings.ToLower(vnet)
	c.mu.Lock()
	l := c.m[k]
	if l != nil {
		select {
		case <-l.ready:
			if l.err != nil || c.now().Sub(l.at) > halfCacheTTL {
				l = nil
			}
		default: // being read: wait for it below
		}
	}
	if l == nil {
		l = &halfList{ready: make(chan struct{}), at: c.now()}
		c.m[k] = l
		c.mu.Unlock()
		halves, err := c.az.ListPeerings(ctx, tenant, vnet)
		c.mu.Lock()
		l.err = err
		if err == nil {
			l.halves = make(map[string]*azure.PeeringHalf, len(halves))
			for _, h := range halves {
				l.halves[strings.ToLower(h.Name)] = h
			}
		}
		close(l.ready)
	}
	c.mu.Unlock()
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	out := make([]*azure.PeeringHalf, 0, len(l.halves))
	for _, h := range l.halves {
		out = append(out, h)
	}
	return out, nil
}

// put records a half the reconciler wrote on vnet.
func (c *halfCache) put(vnet string, h *azure.PeeringHalf) {
	c.update(vnet, func(l *halfList) { l.halves[strings.ToLower(h.Name)] = h })
}

// remove records that the reconciler deleted half name of vnet.
func (c *halfCache) remove(vnet, name string) {
	c.update(vnet, func(l *halfList) { delete(l.halves, strings.ToLower(name)) })
}

// update applies fn to vnet's list when one is read; a list being read
// is dropped instead, as the read may or may not see the write.
func (c *halfCache) update(vnet string, fn func(*halfList)) {
	if c == nil {
		return
	}
	k := strings.ToLower(vnet)
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.m[k]
	if l == nil {
		return
	}
	select {
	case <-l.ready:
		if l.err == nil {
			fn(l)
		}
	default:
		delete(c.m, k)
	}
}
