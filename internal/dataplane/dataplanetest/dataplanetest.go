// Package dataplanetest holds what the data plane's tests share: the
// check that namespaces can be made here (skipping, or failing under
// PEERPLANE_TEST_REQUIRE_NETNS=1 as CI sets it), and a record of the host
// namespace's addresses, routes, nftables ruleset and network sysctls to
// assert that a test changed none of them.
package dataplanetest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/peerplane/peerplane/internal/dataplane"
)

// Require skips t unless this process can run a data plane; with
// PEERPLANE_TEST_REQUIRE_NETNS=1 it fails instead, saying why.
func Require(t testing.TB) {
	t.Helper()
	if err := dataplane.Available(); err != nil {
		if os.Getenv("PEERPLANE_TEST_REQUIRE_NETNS") == "1" {
			t.Fatalf("the data plane is not available and PEERPLANE_TEST_REQUIRE_NETNS=1: %v", err)
		}
		t.Skipf("the data plane is not available here (run as root on Linux, or set PEERPLANE_TEST_REQUIRE_NETNS=1 to fail): %v", err)
	}
}

// HostState is the host namespace's network configuration.
type HostState struct {
	Addrs, Routes, Sysctls []string
	Ruleset                string
}

// Capture records the host namespace's addresses, routes (every table),
// nftables ruleset (through the nft CLI when present) and IPv4/IPv6
// sysctls.
func Capture(t testing.TB) HostState {
	t.Helper()
	var s HostState
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list host addresses: %v", err)
	}
	for _, a := range addrs {
		s.Addrs = append(s.Addrs, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("list host routes: %v", err)
	}
	for _, r := range routes {
		s.Routes = append(s.Routes, fmt.Sprintf("table %d dev %d dst %v gw %v scope %d type %d", r.Table, r.LinkIndex, r.Dst, r.Gw, r.Scope, r.Type))
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatalf("list host links: %v", err)
	}
	for _, l := range links {
		s.Addrs = append(s.Addrs, fmt.Sprintf("link %d %s %s", l.Attrs().Index, l.Attrs().Name, l.Type()))
	}
	if nft, err := exec.LookPath("nft"); err == nil {
		out, err := exec.Command(nft, "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %v\n%s", err, out)
		}
		s.Ruleset = string(out)
	}
	for _, pattern := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/*/*", "/proc/sys/net/ipv6/conf/*/*"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // write-only or racy entries
			}
			s.Sysctls = append(s.Sysctls, f+"="+strings.TrimSpace(string(b)))
		}
	}
	sort.Strings(s.Addrs)
	sort.Strings(s.Routes)
	sort.Strings(s.Sysctls)
	return s
}

// Unchanged fails t when the host namespace differs from before.
func Unchanged(t testing.TB, before HostState) {
	t.Helper()
	after := Capture(t)
	diff := func(what string, a, b []string) {
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			t.Errorf("the host's %s changed:\nbefore:\n  %s\nafter:\n  %s", what, strings.Join(a, "\n  "), strings.Join(b, "\n  "))
		}
	}
	diff("links and addresses", before.Addrs, after.Addrs)
	diff("routes", before.Routes, after.Routes)
	diff("sysctls", before.Sysctls, after.Sysctls)
	if before.Ruleset != after.Ruleset {
		t.Errorf("the host's nftables ruleset changed:\nbefore:\n%s\nafter:\n%s", before.Ruleset, after.Ruleset)
	}
}

// NoNamespaces fails t when a namespace named with prefix exists.
func NoNamespaces(t testing.TB, prefix string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			left = append(left, e.Name())
		}
	}
	if len(left) > 0 {
		t.Errorf("namespaces left behind: %s", strings.Join(left, ", "))
	}
}

// Greeting is what Answer writes to every connection.
const Greeting = "hi"

// Answer accepts connections on ln until it is closed, writing Greeting
// to each and closing it: a server whose answer proves the connection
// went through.
func Answer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, Greeting)
		c.Close()
	}
}
