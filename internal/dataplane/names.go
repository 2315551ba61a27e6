package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
)

// Names. Everything the data plane makes is a named network namespace
// whose name starts with the plane's prefix, derived from the data
// directory: two servers on one machine never share a name, and the next
// start on the same data directory finds (and removes) what a crashed run
// left. Interfaces live only inside those namespaces, so their names only
// need to be unique there.

// Prefix returns the name prefix of the data plane of dataDir: "pp" and
// eight hex digits of a hash of its absolute path.
func Prefix(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	h := sha256.Sum256([]byte(filepath.Clean(abs)))
	return "pp" + hex.EncodeToString(h[:4])
}

// vnetKey is a short stable key of a VNet id (case-insensitive).
func vnetKey(id string) string {
	h := sha256.Sum256([]byte(strings.ToLower(id)))
	return hex.EncodeToString(h[:8])
}

// routerNS is the name of a VNet's namespace, e.g.
// "pp1a2b3c4d-v-contoso-vnet-3fa2b1c0".
func routerNS(prefix, key, name string) string {
	return prefix + "-v-" + sanitize(name) + "-" + key[:8]
}

// hostNS is the name of a host's namespace, e.g.
// "pp1a2b3c4d-h-10.1.0.4-3fa2b1c0".
func hostNS(prefix, key string, a netip.Addr) string {
	return prefix + "-h-" + a.String() + "-" + key[:8]
}

// hostIf is the router's side of a host's veth: "h" and the address in hex.
func hostIf(a netip.Addr) string {
	b := a.As4()
	return "h" + hex.EncodeToString(b[:])
}

// peerIf is a VNet namespace's side of the link to the VNet with key.
func peerIf(key string) string { return "p" + key[:14] }

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return b.String()
}

// routerAddr is the i-th router address, in 169.254.0.0/16: the next hop
// of the hosts of a VNet and of its peered VNets. It never leaves the
// namespaces.
func routerAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{169, 254, byte(1 + i/254), byte(1 + i%254)})
}

// maxRouters is how many router addresses there are.
const maxRouters = 254 * 254
