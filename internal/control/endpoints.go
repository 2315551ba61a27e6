package control

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
)

// A Dedicated cluster's endpoints, as Confluent shapes them for private
// networking: its brokers listen on addresses inside the network's CIDR
// (one per zone for MULTI_ZONE, one for SINGLE_ZONE), and a private DNS
// name, lkc-<cluster>-<network>.<region>.azure.private.<domain>, resolves
// to them inside the VNets (Kafka on :9092, Kafka REST v3 on :443).

// DefaultPrivateDNSDomain is the domain of the clusters' private names
// unless the operator sets another (--private-dns-domain).
const DefaultPrivateDNSDomain = "confluent.cloud"

// Ports of a cluster's endpoints.
const (
	KafkaPort = 9092
	RESTPort  = 443
)

// PrivateEndpointsKey is the access point of the private endpoints in a
// cluster's endpoints map (cmk/v2 spec.endpoints), and
// ConnectionTypePrivateNetwork their connection type.
const (
	PrivateEndpointsKey          = "PRIVATE_NETWORK"
	ConnectionTypePrivateNetwork = "PRIVATE_NETWORK"
)

// BrokerCount is how many brokers a cluster of availability runs: one per
// zone for MULTI_ZONE, one otherwise.
func BrokerCount(availability string) int {
	if availability == AvailabilityMultiZone {
		return len(AzureZones)
	}
	return 1
}

// ClusterHostname returns a cluster's private DNS name, e.g.
// "lkc-9xk2m1-abc123.eastus.azure.private.confluent.cloud": the cluster id
// then the network id's suffix, the region and the domain, lower-cased.
func ClusterHostname(clusterID, networkID, region, domain string) string {
	suffix := strings.TrimPrefix(networkID, PrefixNetwork)
	return strings.ToLower(fmt.Sprintf("%s-%s.%s.azure.private.%s", clusterID, suffix, region, strings.Trim(domain, ".")))
}

// PrivateEndpoints returns the status fields of a PROVISIONED cluster whose
// brokers listen on brokers (addresses without ports) in network n: the
// bootstrap endpoint "name:9092", the REST endpoint "https://name:443" and
// the broker addresses "ip:9092".
func PrivateEndpoints(c *Cluster, n *Network, domain string, brokers []netip.Addr) ClusterStatus {
	host := ClusterHostname(c.ID, n.ID, n.Region, domain)
	st := ClusterStatus{
		Phase:             ClusterPhaseProvisioned,
		BootstrapEndpoint: fmt.Sprintf("%s:%d", host, KafkaPort),
		HTTPEndpoint:      fmt.Sprintf("https://%s:%d", host, RESTPort),
	}
	for _, a := range brokers {
		st.Brokers = append(st.Brokers, netip.AddrPortFrom(a, KafkaPort).String())
	}
	return st
}

// Equal reports whether two statuses are the same.
func (st ClusterStatus) Equal(o ClusterStatus) bool {
	return st.Phase == o.Phase && st.BootstrapEndpoint == o.BootstrapEndpoint && st.HTTPEndpoint == o.HTTPEndpoint &&
		slices.Equal(st.Brokers, o.Brokers)
}

// EndpointAddr returns the address ("ip:port") the cluster is reached at
// inside its network: its first broker, or, for a status written before
// clusters had brokers, the address in its bootstrap endpoint
// ("SASL_SSL://ip:9092"). It returns "" when the cluster has none.
func (st ClusterStatus) EndpointAddr() string {
	if len(st.Brokers) > 0 {
		return st.Brokers[0]
	}
	ep := st.BootstrapEndpoint
	if i := strings.Index(ep, "://"); i >= 0 {
		ep = ep[i+3:]
	}
	if ap, err := netip.ParseAddrPort(ep); err == nil {
		return ap.String()
	}
	return ""
}

// BrokerAddrs returns the brokers' addresses without ports (malformed
// entries are left out).
func (st ClusterStatus) BrokerAddrs() []netip.Addr {
	var out []netip.Addr
	for _, b := range st.Brokers {
		if ap, err := netip.ParseAddrPort(b); err == nil {
			out = append(out, ap.Addr())
		}
	}
	return out
}

// EndpointStart is where a cluster's broker addresses start in a network
// CIDR: a stable address derived from the cluster id, in the third octets
// 16–239 (the network's first /24s are left to the platform) and the last
// octets 4–251. It returns EINVALID when cidr is not an IPv4 /16 or wider.
func EndpointStart(cidr, clusterID string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 16 {
		return netip.Addr{}, Errorf(EINVALID, "Network CIDR %q is not an IPv4 /16.", cidr)
	}
	h := fnv.New32a()
	h.Write([]byte(clusterID))
	sum := h.Sum32()
	b := p.Masked().Addr().As4()
	b[2] = byte(16 + sum%224)     // 16..239
	b[3] = byte(4 + (sum>>8)%248) // 4..251
	return netip.AddrFrom4(b), nil
}

// AllocateBrokers returns n broker addresses in cidr for a cluster: start
// first, then the next addresses after it, skipping those in used and the
// last octets 0–3 and 252–255, wrapping within the third octets 16–239.
// It returns ECONFLICT when no n addresses are free.
func AllocateBrokers(cidr string, start netip.Addr, n int, used map[netip.Addr]bool) ([]netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Contains(start) {
		return nil, Errorf(EINVALID, "Address %s is not in network CIDR %q.", start, cidr)
	}
	const slots = 224 * 248
	slot := func(a netip.Addr) int { b := a.As4(); return (int(b[2])-16)*248 + int(b[3]) - 4 }
	addr := func(i int) netip.Addr {
		b := p.Masked().Addr().As4()
		b[2], b[3] = byte(16+i/248), byte(4+i%248)
		return netip.AddrFrom4(b)
	}
	first := 0
	if b := start.As4(); b[2] >= 16 && b[2] <= 239 && b[3] >= 4 && b[3] <= 251 {
		first = slot(start)
	}
	var out []netip.Addr
	if !used[start] {
		out = append(out, start) // kept even outside the usual range: an existing cluster's address
	}
	for i := 0; i < slots && len(out) < n; i++ {
		a := addr((first + i) % slots)
		if !used[a] && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) < n {
		return nil, Errorf(ECONFLICT, "Network %s has no %d free broker addresses left.", cidr, n)
	}
	return out[:n], nil
}

// ClusterPlacement is a PROVISIONED cluster and its network.
type ClusterPlacement struct {
	Cluster *Cluster
	Network *Network
}

// ProvisionedClusters returns every PROVISIONED cluster of every
// organization with its network, ordered by cluster id: what the Kafka
// endpoints run and the private DNS zone answers.
func (s *Service) ProvisionedClusters(ctx context.Context) ([]ClusterPlacement, error) {
	var out []ClusterPlacement
	err := s.store.View(ctx, func(tx Tx) error {
		out = nil
		cs, err := tx.FindClusters(ctx, AllOrgs(), ClusterFilter{Phases: []string{ClusterPhaseProvisioned}})
		if err != nil {
			return err
		}
		nets := map[string]*Network{}
		for _, c := range cs {
			n := nets[c.NetworkID]
			if n == nil {
				if n, err = tx.FindNetworkByID(ctx, AllOrgs(), c.NetworkID); ErrorCode(err) == ENOTFOUND {
					continue
				} else if err != nil {
					return err
				}
				nets[c.NetworkID] = n
			}
			out = append(out, ClusterPlacement{Cluster: c, Network: n})
		}
		return nil
	})
	return out, err
}
