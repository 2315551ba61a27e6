//go:build linux

package privatedns

import (
	"errors"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addLoopback adds ResolverAddr/32 to the calling thread's namespace's
// loopback (it must be a host's namespace: Host.Do runs it there).
func addLoopback() error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	err = h.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: ResolverAddr.AsSlice(), Mask: net.CIDRMask(32, 32)}})
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
