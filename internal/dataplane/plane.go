// Package dataplane is the embedded Azure's packets: every VNet a Linux
// network namespace, every peering whose two halves are Connected a veth
// pair between two of them with routes for each other's address spaces
// only, every subnet's network security group compiled to nftables, and
// hosts — a namespace per address, joined to its VNet's namespace by a
// veth — where programs run (peerplane vnet exec, probes, and listeners
// the server itself opens).
//
// The plane is fed the embedded Azure's network snapshot (Apply, Follow)
// and converges the kernel on it; it is the only writer of the namespaces
// named with its prefix (Prefix), removes what a previous run left at
// Open and everything at Close. It never configures the namespace the
// process started in: no address, route, sysctl or rule there, no link
// to it.
//
// The topology, for a VNet V with hosts a and b and peerings to W and X:
//
//	host ns (a)          VNet ns (V)                 VNet ns (W)
//	 eth0 a/32 ──veth── h<a>   lo: 169.254.x.y/32 ── p<W> ──veth── p<V> …
//	 default via router  h<b>  p<X> ──veth── VNet ns (X)
//
// V's namespace forwards between its hosts and its peerings, never from
// one peering to another (an nftables rule, and routes only for the
// peered VNets' own address spaces): peering is not transitive. A VNet
// needs a namespace only while it has a host or a live peering, so a
// world of thousands of VNets costs what its peerings and hosts cost.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/peerplane/peerplane/internal/reach"
)

// Options configure a Plane.
type Options struct {
	// DataDir is the server's data directory; every name the plane makes
	// starts with Prefix(DataDir).
	DataDir string
	// Logger receives changes and failures. Nil discards them.
	Logger *slog.Logger
}

// Available reports whether this process can run a data plane: a nil
// error, or why not (not Linux; no permission to create network
// namespaces, which needs root or CAP_SYS_ADMIN and CAP_NET_ADMIN; no
// nftables).
func Available() error {
	_, err := newKernel()
	return err
}

// Plane is a running data plane. Make one with Open; it is safe for
// concurrent use.
type Plane struct {
	prefix string
	k      kernel
	log    *slog.Logger

	srcMu  sync.Mutex // orders snapshots taken from source
	source func() reach.Snapshot

	mu      sync.Mutex
	w       *world
	hosts   map[*Host]bool // claimed, not yet released
	gen     uint64         // bumped by every change of input
	applied uint64         // the input generation the last pass saw
	passErr error          // the last pass's error
	passed  chan struct{}  // closed and replaced after each pass
	closed  bool
	kick    chan struct{}

	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	finished  chan struct{}

	// Owned by the applier goroutine.
	routers map[string]*actRouter // by VNet key
	links   map[[2]string]*actLink
	free    []int // router address indexes returned
	next    int
}

type actRouter struct {
	key, ns string
	addrIdx int
	addr    netip.Addr
	hosts   map[*Host]*actHost
	fp      string // fingerprint of the applied rules
}

type actHost struct {
	ns, ifname string
}

type actLink struct {
	a, b     *actRouter
	ifA, ifB string
	routesA  []netip.Prefix // in a, toward b
	routesB  []netip.Prefix
}

// Open starts a data plane for opts.DataDir, first removing every
// namespace a previous run on the same data directory left (after a
// crash). It fails when the data plane is not available here (see
// Available) or the leftovers cannot be removed.
func Open(ctx context.Context, opts Options) (*Plane, error) {
	k, err := newKernel()
	if err != nil {
		return nil, err
	}
	return open(ctx, k, opts)
}

func open(ctx context.Context, k kernel, opts Options) (*Plane, error) {
	p := &Plane{
		prefix: Prefix(opts.DataDir), k: k, log: opts.Logger,
		w: newWorld(reach.Snapshot{}), hosts: map[*Host]bool{},
		passed: make(chan struct{}), kick: make(chan struct{}, 1), stop: make(chan struct{}), finished: make(chan struct{}),
		routers: map[string]*actRouter{}, links: map[[2]string]*actLink{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	n, err := p.removeAll()
	if err != nil {
		return nil, fmt.Errorf("remove the namespaces a previous run left: %w", err)
	}
	if n > 0 {
		p.log.Info("removed namespaces a previous run left", "count", n, "prefix", p.prefix)
	}
	go p.run()
	return p, nil
}

// Prefix is the prefix of every namespace name the plane makes.
func (p *Plane) Prefix() string { return p.prefix }

// removeAll deletes every namespace named with the plane's prefix.
func (p *Plane) removeAll() (int, error) {
	names, err := p.k.listNS(p.prefix + "-")
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, p.k.deleteNS(n))
	}
	return len(names), errors.Join(errs...)
}

// Cleanup removes every namespace a data plane on dataDir made, for a
// server that is not running (tests, and operators after a crash when no
// restart follows). It needs the same privileges as Open.
func Cleanup(dataDir string) error {
	k, err := newKernel()
	if err != nil {
		return err
	}
	p := &Plane{prefix: Prefix(dataDir), k: k}
	_, err = p.removeAll()
	return err
}

// Close releases every host, removes every namespace the plane made and
// stops it. It is idempotent: every call returns once all is removed.
func (p *Plane) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		hosts := make([]*Host, 0, len(p.hosts))
		for h := range p.hosts {
			hosts = append(hosts, h)
		}
		p.hosts = map[*Host]bool{}
		p.mu.Unlock()
		for _, h := range hosts {
			h.finish(ErrClosed)
		}
		close(p.stop)
		<-p.finished
		_, p.closeErr = p.removeAll()
	})
	return p.closeErr
}

// Apply makes s the state the plane converges on. It returns at once;
// Sync waits for the kernel to match.
func (p *Plane) Apply(s reach.Snapshot) {
	w := newWorld(s)
	p.mu.Lock()
	p.w = w
	p.gen++
	p.mu.Unlock()
	p.poke()
}

// Follow applies source's snapshot now and whenever changed's channel
// closes, until ctx is done. changed returns a channel closed at the next
// change of the source's state; it is called before each snapshot so
// that no change is missed.
func (p *Plane) Follow(ctx context.Context, source func() reach.Snapshot, changed func() <-chan struct{}) {
	p.srcMu.Lock()
	p.source = source
	p.srcMu.Unlock()
	for {
		ch := changed()
		p.srcMu.Lock()
		p.Apply(source())
		p.srcMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		}
	}
}

// Resync takes a fresh snapshot from the followed source (if any) and
// waits until the kernel matches it and every claim made before the call.
// It returns the error of the pass that did, if it failed.
func (p *Plane) Resync(ctx context.Context) error {
	p.srcMu.Lock()
	if p.source != nil {
		p.Apply(p.source())
	}
	p.srcMu.Unlock()
	return p.Sync(ctx)
}

// Sync waits until a pass has seen every change made before the call and
// returns that pass's error.
func (p *Plane) Sync(ctx context.Context) error {
	p.mu.Lock()
	want := p.gen
	p.mu.Unlock()
	p.poke()
	for {
		p.mu.Lock()
		applied, err, ch, closed := p.applied, p.passErr, p.passed, p.closed
		p.mu.Unlock()
		if applied >= want {
			return err
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.finished:
			return ErrClosed
		}
	}
}

func (p *Plane) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run is the applier: one pass per kick, retrying failed passes with a
// capped backoff.
func (p *Plane) run() {
	defer close(p.finished)
	backoff := 50 * time.Millisecond
	var retry <-chan time.Time
	for {
		select {
		case <-p.stop:
			p.teardown()
			return
		case <-p.kick:
		case <-retry:
		}
		p.mu.Lock()
		gen := p.gen
		p.mu.Unlock()
		err := p.pass()
		p.mu.Lock()
		p.applied, p.passErr = gen, err
		close(p.passed)
		p.passed = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			p.log.Warn("data plane pass failed; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 5*time.Second)
		} else {
			retry, backoff = nil, 50*time.Millisecond
		}
	}
}

// teardown removes everything the plane made, links first.
func (p *Plane) teardown() {
	for k, l := range p.links {
		_ = p.k.delLink(l.a.ns, l.ifA)
		delete(p.links, k)
	}
	for k, r := range p.routers {
		for h, ah := range r.hosts {
			_ = p.k.delHost(r.ns, ah.ns, ah.ifname)
			delete(r.hosts, h)
		}
		_ = p.k.delRouter(r.ns)
		delete(p.routers, k)
	}
}

// desired is the kernel state a pass converges on.
type desired struct {
	routers map[string]*dRouter
	links   map[[2]string]*dLink
	revoke  map[*Host]error // hosts whose place is gone
}

type dRouter struct {
	v     *vnetInfo
	ns    string
	hosts []*Host
}

type dLink struct {
	a, b             *dRouter // a.v.key < b.v.key
	routesA, routesB []netip.Prefix
}

func (p *Plane) desire(w *world, hosts []*Host) *desired {
	d := &desired{routers: map[string]*dRouter{}, links: map[[2]string]*dLink{}, revoke: map[*Host]error{}}
	router := func(v *vnetInfo) *dRouter {
		r := d.routers[v.key]
		if r == nil {
			r = &dRouter{v: v, ns: routerNS(p.prefix, v.key, v.name)}
			d.routers[v.key] = r
		}
		return r
	}
	for _, h := range hosts {
		v := w.vnet(h.VNetID)
		if v == nil {
			d.revoke[h] = fmt.Errorf("VNet %s was deleted", h.VNetID)
			continue
		}
		pl, why := place(v, h.Addr)
		if why != "" {
			d.revoke[h] = fmt.Errorf("%s %s", h.Addr, why)
			continue
		}
		h.setPlacement(pl)
		r := router(v)
		r.hosts = append(r.hosts, h)
	}
	for k := range w.halves {
		a, b := w.vnets[k[0]], w.vnets[k[1]]
		if a == nil || b == nil || a == b || a.key > b.key || !w.live(a, b) {
			continue
		}
		ra, rb := router(a), router(b)
		d.links[[2]string{a.key, b.key}] = &dLink{a: ra, b: rb,
			routesA: sortPrefixes(w.remoteSpace(a, b)), routesB: sortPrefixes(w.remoteSpace(b, a))}
	}
	for _, r := range d.routers {
		sort.Slice(r.hosts, func(i, j int) bool { return r.hosts[i].Addr.Less(r.hosts[j].Addr) })
	}
	return d
}

// rules computes the ruleset of a VNet's namespace.
func (p *Plane) rules(w *world, r *dRouter) *ruleset {
	rs := &ruleset{VNet: sortPrefixes(w.virtualNetwork(r.v))}
	chains := map[string]bool{}
	addChain := func(nsgID string, inbound bool) string {
		n := w.nsgs[strings.ToLower(nsgID)]
		if nsgID == "" || n == nil {
			return "" // no NSG, or one not visible: not filtered, as reach says
		}
		name := chainName(nsgID, inbound)
		if !chains[name] {
			chains[name] = true
			in, out := reach.EffectiveRules(*n)
			rules := out
			if inbound {
				rules = in
			}
			rs.Chains = append(rs.Chains, rsChain{Name: name, Rules: compileRules(rules)})
		}
		return name
	}
	for _, h := range r.hosts {
		pl := h.placement()
		rs.Hosts = append(rs.Hosts, rsHost{Ifname: hostIf(h.Addr), Addr: h.Addr, Out: addChain(pl.nsgID, false), In: addChain(pl.nsgID, true)})
	}
	slices.SortFunc(rs.Chains, func(a, b rsChain) int { return strings.Compare(a.Name, b.Name) })
	return rs
}

// pass converges the kernel on the current input: removals first (links,
// hosts, namespaces), then new namespaces (in parallel), hosts and links,
// then routes and rules where they differ. Hosts whose place is gone are
// released; a host that could not be made fails its claim.
func (p *Plane) pass() error {
	p.mu.Lock()
	w := p.w
	hosts := make([]*Host, 0, len(p.hosts))
	for h := range p.hosts {
		hosts = append(hosts, h)
	}
	p.mu.Unlock()
	d := p.desire(w, hosts)
	var errs []error

	// Removals.
	for k, l := range p.links {
		if dl := d.links[k]; dl == nil || p.routers[dl.a.v.key] != l.a || p.routers[dl.b.v.key] != l.b {
			errs = append(errs, p.k.delLink(l.a.ns, l.ifA))
			delete(p.links, k)
		}
	}
	for key, r := range p.routers {
		dr := d.routers[key]
		for h, ah := range r.hosts {
			if dr == nil || !slices.Contains(dr.hosts, h) {
				errs = append(errs, p.k.delHost(r.ns, ah.ns, ah.ifname))
				delete(r.hosts, h)
			}
		}
		if dr == nil || dr.ns != r.ns {
			for k, l := range p.links {
				if l.a == r || l.b == r {
					errs = append(errs, p.k.delLink(l.a.ns, l.ifA))
					delete(p.links, k)
				}
			}
			errs = append(errs, p.k.delRouter(r.ns))
			p.free = append(p.free, r.addrIdx)
			delete(p.routers, key)
		}
	}

	// New VNet namespaces, in parallel: a world's first pass may make
	// hundreds.
	var mu sync.Mutex
	newRouters := map[string]*actRouter{}
	var g errgroup.Group
	g.SetLimit(4)
	// In key order, so that the same state gets the same addresses.
	keys := slices.Sorted(maps.Keys(d.routers))
	for _, key := range keys {
		dr := d.routers[key]
		if p.routers[key] != nil {
			continue
		}
		idx, ok := p.allocAddr()
		if !ok {
			errs = append(errs, fmt.Errorf("VNet %s: more than %d VNet namespaces", dr.v.id, maxRouters))
			continue
		}
		ar := &actRouter{key: key, ns: dr.ns, addrIdx: idx, addr: routerAddr(idx), hosts: map[*Host]*actHost{}}
		base := &ruleset{VNet: sortPrefixes(w.virtualNetwork(dr.v))}
		g.Go(func() error {
			err := p.k.addRouter(ar.ns, ar.addr, base)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				p.free = append(p.free, idx)
				errs = append(errs, fmt.Errorf("VNet %s: %w", dr.v.id, err))
				return nil
			}
			ar.fp = base.Fingerprint()
			newRouters[key] = ar
			return nil
		})
	}
	_ = g.Wait()
	maps.Copy(p.routers, newRouters)

	// Hosts.
	made := map[*Host]error{}
	for key, dr := range d.routers {
		ar := p.routers[key]
		for _, h := range dr.hosts {
			if ar != nil && ar.hosts[h] != nil {
				continue
			}
			if ar == nil {
				made[h] = fmt.Errorf("the namespace of VNet %s could not be made", dr.v.name)
				continue
			}
			ah := &actHost{ns: hostNS(p.prefix, key, h.Addr), ifname: hostIf(h.Addr)}
			if err := p.k.addHost(ar.ns, ah.ns, ah.ifname, h.Addr, ar.addr); err != nil {
				made[h] = err
				errs = append(errs, fmt.Errorf("host %s in VNet %s: %w", h.Addr, dr.v.name, err))
				continue
			}
			h.setNS(nsPath(ah.ns))
			ar.hosts[h] = ah
		}
	}

	// Links.
	for k, dl := range d.links {
		ra, rb := p.routers[dl.a.v.key], p.routers[dl.b.v.key]
		if ra == nil || rb == nil {
			continue
		}
		l := p.links[k]
		if l == nil {
			l = &actLink{a: ra, b: rb, ifA: peerIf(rb.key), ifB: peerIf(ra.key)}
			if err := p.k.addLink(ra.ns, rb.ns, l.ifA, l.ifB, ra.addr, rb.addr); err != nil {
				errs = append(errs, fmt.Errorf("peering %s <-> %s: %w", dl.a.v.name, dl.b.v.name, err))
				continue
			}
			p.links[k] = l
		}
		if !slices.Equal(l.routesA, dl.routesA) {
			if err := p.k.setRoutes(ra.ns, l.ifA, rb.addr, dl.routesA); err != nil {
				errs = append(errs, err)
			} else {
				l.routesA = dl.routesA
			}
		}
		if !slices.Equal(l.routesB, dl.routesB) {
			if err := p.k.setRoutes(rb.ns, l.ifB, ra.addr, dl.routesB); err != nil {
				errs = append(errs, err)
			} else {
				l.routesB = dl.routesB
			}
		}
	}

	// Rules.
	for key, dr := range d.routers {
		ar := p.routers[key]
		if ar == nil {
			continue
		}
		live := &dRouter{v: dr.v, ns: dr.ns}
		for _, h := range dr.hosts {
			if ar.hosts[h] != nil {
				live.hosts = append(live.hosts, h)
			}
		}
		rs := p.rules(w, live)
		if fp := rs.Fingerprint(); fp != ar.fp {
			if err := p.k.setRules(ar.ns, rs); err != nil {
				errs = append(errs, fmt.Errorf("rules of VNet %s: %w", dr.v.name, err))
				ar.fp = ""
			} else {
				ar.fp = fp
			}
		}
	}

	// Outcomes.
	for _, h := range hosts {
		switch err, failed := made[h]; {
		case d.revoke[h] != nil:
			p.drop(h, &RevokedError{Reason: d.revoke[h].Error()})
		case failed:
			p.drop(h, err)
		default:
			if ah := p.hostOf(h); ah != nil {
				h.markReady()
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Plane) hostOf(h *Host) *actHost {
	for _, r := range p.routers {
		if ah := r.hosts[h]; ah != nil {
			return ah
		}
	}
	return nil
}

// drop forgets a host that failed or lost its place; the next pass
// removes what it had.
func (p *Plane) drop(h *Host, err error) {
	p.mu.Lock()
	delete(p.hosts, h)
	p.gen++
	p.mu.Unlock()
	h.finish(err)
	p.poke()
}

func (p *Plane) allocAddr() (int, bool) {
	if n := len(p.free); n > 0 {
		slices.Sort(p.free)
		i := p.free[0]
		p.free = p.free[1:]
		return i, true
	}
	if p.next >= maxRouters {
		return 0, false
	}
	p.next++
	return p.next - 1, true
}

// Namespaces lists the names of the namespaces the plane has made, sorted
// (for tests and diagnostics).
func (p *Plane) Namespaces() ([]string, error) {
	names, err := p.k.listNS(p.prefix + "-")
	sort.Strings(names)
	return names, err
}
