package dataplane

import "net/netip"

// kernel is what the data plane asks of the operating system. Only Linux
// has one (kernel_linux.go); elsewhere newKernel says why not.
type kernel interface {
	// listNS returns the names of the namespaces whose names start with
	// prefix; deleteNS removes one by name (a missing one is not an error).
	listNS(prefix string) ([]string, error)
	deleteNS(name string) error
	// createNS makes the named namespace and runs setup in it.
	createNS(name string, setup func() error) error
	// do runs fn on a thread inside the named namespace; doPath by path.
	do(name string, fn func() error) error
	doPath(path string, fn func() error) error

	addRouter(ns string, addr netip.Addr, rs *ruleset) error
	delRouter(ns string) error
	addHost(router, hostNS, ifname string, addr, gw netip.Addr) error
	delHost(router, hostNS, ifname string) error
	addLink(a, b, ifA, ifB string, addrA, addrB netip.Addr) error
	delLink(ns, ifname string) error
	setRoutes(ns, ifname string, gw netip.Addr, want []netip.Prefix) error
	setRules(ns string, rs *ruleset) error

	// bareLink joins two namespaces (by path) by a veth named bareIf with
	// addresses a and b; delLinkPath deletes an interface by namespace path.
	bareLink(nsA, nsB string, a, b netip.Addr) error
	delLinkPath(nsPath, ifname string) error
}
