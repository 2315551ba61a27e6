//go:build linux

package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netnsDir is where named network namespaces are bind-mounted, as
// `ip netns` does.
const netnsDir = "/run/netns"

// linuxKernel changes the kernel: named network namespaces, veth pairs,
// addresses, routes, per-namespace sysctls and nftables. Every change runs
// on a goroutine locked to a thread that is never given back to the Go
// scheduler (the thread ends with the goroutine), after checking that the
// thread is in the intended namespace and that it is not the namespace the
// process started in: nothing here can touch the host's own namespace.
type linuxKernel struct {
	hostIno uint64
	// nftMu serializes nftables batches: the library numbers anonymous
	// sets with a package-level counter.
	nftMu sync.Mutex
}

func newKernel() (kernel, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("read the process's network namespace: %w", err)
	}
	k := &linuxKernel{hostIno: st.Ino}
	// Can this process make a namespace, and use nftables in it? Try in an
	// anonymous one that dies with its thread.
	err := onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("create a network namespace: %w (needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)", err)
		}
		if err := k.checkNotHost(); err != nil {
			return err
		}
		c, err := nftables.New()
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		if _, err := c.ListTables(); err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// onThread runs fn on a fresh goroutine locked to its thread; the thread
// is discarded when fn returns, whatever namespace fn left it in.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- fn()
	}()
	return <-errc
}

// checkNotHost fails when the calling thread is in the namespace the
// process started in.
func (k *linuxKernel) checkNotHost() error {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return fmt.Errorf("read the thread's network namespace: %w", err)
	}
	if st.Ino == k.hostIno {
		return errors.New("refusing to change the host's network namespace")
	}
	return nil
}

func nsPath(name string) string { return filepath.Join(netnsDir, name) }

// do runs fn in the named namespace.
func (k *linuxKernel) do(name string, fn func() error) error {
	return k.doPath(nsPath(name), fn)
}

func (k *linuxKernel) doPath(path string, fn func() error) error {
	return onThread(func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", path, err)
		}
		defer unix.Close(fd)
		var want unix.Stat_t
		if err := unix.Fstat(fd, &want); err != nil {
			return err
		}
		if want.Ino == k.hostIno {
			return fmt.Errorf("refusing to enter %s: it is the host's network namespace", path)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter namespace %s: %w", path, err)
		}
		var got unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &got); err != nil || got.Ino != want.Ino {
			return fmt.Errorf("enter namespace %s: the thread is not in it", path)
		}
		return fn()
	})
}

// createNS makes the named namespace and runs setup in it. A leftover
// of the same name is replaced.
func (k *linuxKernel) createNS(name string, setup func() error) error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", netnsDir, err)
	}
	path := nsPath(name)
	_ = k.deleteNS(name)
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		if err := k.checkNotHost(); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		f.Close()
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			os.Remove(path)
			return fmt.Errorf("create namespace %s: bind mount: %w", name, err)
		}
		if err := setup(); err != nil {
			_ = k.deleteNS(name)
			return err
		}
		return nil
	})
}

// deleteNS removes the named namespace's name; the kernel frees the
// namespace (and the interfaces in it) once nothing else holds it.
func (k *linuxKernel) deleteNS(name string) error {
	path := nsPath(name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// listNS returns the names of the namespaces whose name starts with prefix.
func (k *linuxKernel) listNS(prefix string) ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// nsSysctls are set in every namespace Peerplane makes, before its
// interfaces exist (IPv4 settings of a new namespace start as copies of
// the host's, which may differ): forwarding where asked, answers to ARP
// for any local address, no reverse-path filter (the rules check sources
// themselves), no IPv6.
func writeSysctls(forward bool) error {
	set := map[string]string{
		"net/ipv4/conf/all/arp_ignore":       "0",
		"net/ipv4/conf/default/arp_ignore":   "0",
		"net/ipv4/conf/all/arp_filter":       "0",
		"net/ipv4/conf/default/arp_filter":   "0",
		"net/ipv4/conf/all/rp_filter":        "0",
		"net/ipv4/conf/default/rp_filter":    "0",
		"net/ipv6/conf/all/disable_ipv6":     "1",
		"net/ipv6/conf/default/disable_ipv6": "1",
	}
	if forward {
		set["net/ipv4/ip_forward"] = "1"
	}
	for k, v := range set {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(k, "/", "."), err)
		}
	}
	return nil
}

// netlinkIn runs fn with a netlink handle opened inside the named
// namespace; netlinkAt by namespace path.
func (k *linuxKernel) netlinkIn(ns string, fn func(h *netlink.Handle) error) error {
	return k.netlinkAt(nsPath(ns), fn)
}

func (k *linuxKernel) netlinkAt(path string, fn func(h *netlink.Handle) error) error {
	return k.doPath(path, func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		return fn(h)
	})
}

// addVeth creates a veth pair in h's namespace, name there and peerName in
// the namespace at peerPath, and sets name up.
func addVeth(h *netlink.Handle, name, peerName, peerPath string) (netlink.Link, error) {
	peer, err := unix.Open(peerPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(peer)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peerName, PeerNamespace: netlink.NsFd(peer)}); err != nil {
		return nil, fmt.Errorf("veth %s: %w", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	return l, h.LinkSetUp(l)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostNet(a netip.Addr) *net.IPNet { return ipNet(netip.PrefixFrom(a, 32)) }

// addRouter makes a VNet's namespace: loopback up with the router's
// address, forwarding on, and the base rules.
func (k *linuxKernel) addRouter(ns string, addr netip.Addr, rs *ruleset) error {
	return k.createNS(ns, func() error {
		if err := setupNS(true, addr); err != nil {
			return err
		}
		return k.applyRules(rs)
	})
}

// setupNS prepares the calling thread's new namespace: its sysctls, and
// the loopback interface up, with addr when it is valid.
func setupNS(forward bool, addr netip.Addr) error {
	if err := writeSysctls(forward); err != nil {
		return err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	if addr.IsValid() {
		if err := h.AddrAdd(lo, &netlink.Addr{IPNet: hostNet(addr)}); err != nil {
			return fmt.Errorf("router address: %w", err)
		}
	}
	return nil
}

func (k *linuxKernel) delRouter(ns string) error { return k.deleteNS(ns) }

// addHost makes a host's namespace joined to its VNet's namespace by a
// veth: ifname on the router side, eth0 in the host with addr/32 and a
// default route via the router's address gw.
func (k *linuxKernel) addHost(router, hostNS, ifname string, addr, gw netip.Addr) error {
	err := k.createNS(hostNS, func() error { return setupNS(false, netip.Addr{}) })
	if err != nil {
		return err
	}
	err = k.netlinkIn(router, func(h *netlink.Handle) error {
		l, err := addVeth(h, ifname, "eth0", nsPath(hostNS))
		if err != nil {
			return err
		}
		return h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: hostNet(addr), Scope: netlink.SCOPE_LINK})
	})
	if err == nil {
		err = k.netlinkIn(hostNS, func(h *netlink.Handle) error {
			l, err := h.LinkByName("eth0")
			if err != nil {
				return err
			}
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: hostNet(addr)}); err != nil {
				return fmt.Errorf("host address: %w", err)
			}
			if err := h.LinkSetUp(l); err != nil {
				return err
			}
			if err := h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: hostNet(gw), Scope: netlink.SCOPE_LINK}); err != nil {
				return fmt.Errorf("host route: %w", err)
			}
			return h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice()})
		})
	}
	if err != nil {
		_ = k.delHost(router, hostNS, ifname)
		return err
	}
	return nil
}

// delHost removes a host: its veth (at once, from the router's side) and
// its namespace.
func (k *linuxKernel) delHost(router, hostNS, ifname string) error {
	err := k.delLink(router, ifname)
	return errors.Join(err, k.deleteNS(hostNS))
}

// addLink joins two VNet namespaces by a veth (ifA in a, ifB in b), with a
// route to each side's router address.
func (k *linuxKernel) addLink(a, b, ifA, ifB string, addrA, addrB netip.Addr) error {
	err := k.netlinkIn(a, func(h *netlink.Handle) error {
		l, err := addVeth(h, ifA, ifB, nsPath(b))
		if err != nil {
			return err
		}
		return h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: hostNet(addrB), Scope: netlink.SCOPE_LINK})
	})
	if err == nil {
		err = k.netlinkIn(b, func(h *netlink.Handle) error { return linkUpWithRoute(h, ifB, addrA) })
	}
	if err != nil {
		_ = k.delLink(a, ifA)
	}
	return err
}

func linkUpWithRoute(h *netlink.Handle, ifname string, peer netip.Addr) error {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	return h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: hostNet(peer), Scope: netlink.SCOPE_LINK})
}

// bareLink joins the namespaces at pathA and pathB by a veth named
// bareIf, with a/30 and b/30.
func (k *linuxKernel) bareLink(pathA, pathB string, a, b netip.Addr) error {
	err := k.netlinkAt(pathA, func(h *netlink.Handle) error {
		l, err := addVeth(h, bareIf, bareIf, pathB)
		if err != nil {
			return err
		}
		return h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, 30))})
	})
	if err == nil {
		err = k.netlinkAt(pathB, func(h *netlink.Handle) error {
			l, err := h.LinkByName(bareIf)
			if err == nil {
				err = h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(b, 30))})
			}
			if err == nil {
				err = h.LinkSetUp(l)
			}
			return err
		})
	}
	if err != nil {
		_ = k.delLinkPath(pathA, bareIf)
	}
	return err
}

// delLink deletes the interface ifname in ns (and so its veth peer); a
// missing interface or namespace is not an error. delLinkPath is delLink
// by namespace path.
func (k *linuxKernel) delLink(ns, ifname string) error {
	return k.delLinkPath(nsPath(ns), ifname)
}

func (k *linuxKernel) delLinkPath(path, ifname string) error {
	err := k.netlinkAt(path, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return err
		}
		return h.LinkDel(l)
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// setRoutes makes the routes via gw on ifname in ns exactly want.
func (k *linuxKernel) setRoutes(ns, ifname string, gw netip.Addr, want []netip.Prefix) error {
	return k.netlinkIn(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		have, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		keep := map[netip.Prefix]bool{}
		for _, p := range want {
			keep[p] = true
		}
		for _, r := range have {
			if r.Gw == nil || r.Dst == nil {
				continue
			}
			p, ok := prefixOf(r.Dst)
			if ok && keep[p] {
				delete(keep, p)
				continue
			}
			if err := h.RouteDel(&r); err != nil {
				return fmt.Errorf("delete route %s: %w", r.Dst, err)
			}
		}
		for _, p := range want {
			if !keep[p] {
				continue
			}
			if err := h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p), Gw: gw.AsSlice()}); err != nil {
				return fmt.Errorf("route %s via %s: %w", p, gw, err)
			}
		}
		return nil
	})
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

// setRules replaces the namespace's table with rs, in one transaction.
func (k *linuxKernel) setRules(ns string, rs *ruleset) error {
	return k.do(ns, func() error { return k.applyRules(rs) })
}
