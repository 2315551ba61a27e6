// Package azureid holds the one definition of what several of Peerplane's
// packages must read the same way about Azure's identifiers and
// addresses: the GUID form (checked and drawn), resource ids of VNets and
// other Microsoft.Network resources (parsed and written), the rules for
// resource group and VNet names, and the address ranges Azure calls
// private.
//
// It is a leaf of the standard library, with no errors of its own shape:
// each caller says what is wrong in its own terms (the domain as a field
// error, the embedded Azure as an ARM error, the CLI as a usage error), so
// that the rule is defined once and the messages stay where their readers
// are.
package azureid

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
)

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 form of
// hexadecimal digits, in either case.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// NewGUID returns a random (version 4) GUID in lower case.
func NewGUID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// IsResourceGroupName reports whether name follows Azure's rule for
// resource group names: 1 to 90 letters, digits, '_', '-', '.', '(' or
// ')', not ending in '.'.
func IsResourceGroupName(name string) bool {
	if name == "" || len(name) > 90 || strings.HasSuffix(name, ".") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(isLetterOrDigit(c) || strings.IndexByte("_-.()", c) >= 0) {
			return false
		}
	}
	return true
}

// IsVNetName reports whether name follows Azure's rule for virtual
// network names: 2 to 64 letters, digits, '_', '-' or '.', starting with a
// letter or digit and ending with a letter, digit or '_'.
func IsVNetName(name string) bool {
	if len(name) < 2 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case !(isLetterOrDigit(c) || strings.IndexByte("_-.", c) >= 0):
			return false
		case i == 0 && !isLetterOrDigit(c):
			return false
		case i == len(name)-1 && !(isLetterOrDigit(c) || c == '_'):
			return false
		}
	}
	return true
}

func isLetterOrDigit(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Resource types of Microsoft.Network that ParseNetworkID reads.
const (
	TypeVirtualNetworks       = "virtualNetworks"
	TypeNetworkSecurityGroups = "networkSecurityGroups"
)

// ResourceID is the parsed id of a top-level Microsoft.Network resource:
// its subscription, resource group and name, as the id spells them.
type ResourceID struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

// ParseNetworkID parses the id of a top-level Microsoft.Network resource
// of type typ (TypeVirtualNetworks, TypeNetworkSecurityGroups):
// /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/{typ}/{name}.
// The fixed segments and typ compare case-insensitively, as ARM compares
// them; the id must start with '/', have no trailing '/' and no empty
// segment. The parts are not checked (IsGUID, IsResourceGroupName,
// IsVNetName do that). Returns an error naming the id and the shape
// expected otherwise.
func ParseNetworkID(id, typ string) (ResourceID, error) {
	p := strings.Split(id, "/")
	if len(p) != 9 || p[0] != "" ||
		!strings.EqualFold(p[1], "subscriptions") ||
		!strings.EqualFold(p[3], "resourceGroups") ||
		!strings.EqualFold(p[5], "providers") ||
		!strings.EqualFold(p[6], "Microsoft.Network") ||
		!strings.EqualFold(p[7], typ) ||
		p[2] == "" || p[4] == "" || p[8] == "" {
		return ResourceID{}, fmt.Errorf("%q is not a Microsoft.Network/%s resource id (/subscriptions/{subscription}/resourceGroups/{resource group}/providers/Microsoft.Network/%s/{name})", id, typ, typ)
	}
	return ResourceID{SubscriptionID: p[2], ResourceGroup: p[4], Name: p[8]}, nil
}

// ParseVNetID parses a VNet's resource id
// (/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name})
// as ParseNetworkID does.
func ParseVNetID(id string) (ResourceID, error) {
	return ParseNetworkID(id, TypeVirtualNetworks)
}

// VNetID returns the resource id of VNet name in resource group rg of
// subscription sub, as ARM writes it: the subscription in lower case, the
// names as given.
func VNetID(sub, rg, name string) string {
	return "/subscriptions/" + strings.ToLower(sub) + "/resourceGroups/" + rg +
		"/providers/Microsoft.Network/" + TypeVirtualNetworks + "/" + name
}

// ResourceGroupOf returns the resource group a resource id names (the
// segment after "resourceGroups", compared case-insensitively), or "" if
// it names none.
func ResourceGroupOf(id string) string {
	p := strings.Split(id, "/")
	for i := 0; i+1 < len(p); i++ {
		if strings.EqualFold(p[i], "resourceGroups") {
			return p[i+1]
		}
	}
	return ""
}

// privateRanges are the IPv4 ranges Azure calls private (Azure Firewall's
// "IANAPrivateRanges"): RFC 1918 and RFC 6598's shared address space.
var privateRanges = [...]netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
}

// PrivateRanges returns the IPv4 ranges Azure calls private: RFC 1918's
// 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16, and RFC 6598's
// 100.64.0.0/10. The slice is the caller's.
func PrivateRanges() []netip.Prefix {
	return append([]netip.Prefix(nil), privateRanges[:]...)
}

// InPrivateRange reports whether p lies entirely inside one of
// PrivateRanges. An IPv6 or invalid prefix never does.
func InPrivateRange(p netip.Prefix) bool {
	for _, r := range privateRanges {
		if r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
