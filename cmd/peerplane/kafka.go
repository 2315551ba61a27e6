package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/dataplane"
	"github.com/peerplane/peerplane/internal/kafka"
	"github.com/peerplane/peerplane/internal/privatedns"
	"github.com/peerplane/peerplane/internal/tlsca"
)

// bindKafkaFlags registers the flags of the clusters' endpoints.
func bindKafkaFlags(fs *pflag.FlagSet, c *ServeConfig, getenv func(string) string) {
	def := getenv("PEERPLANE_PRIVATE_DNS_DOMAIN")
	if def == "" {
		def = control.DefaultPrivateDNSDomain
	}
	fs.StringVar(&c.PrivateDNSDomain, "private-dns-domain", def, "domain of the clusters' private names, lkc-….<region>.azure.private.<domain> ($PEERPLANE_PRIVATE_DNS_DOMAIN)")
}

// validatePrivateDNSDomain checks --private-dns-domain: a DNS name of at
// least two labels of letters, digits and hyphens.
func (c *ServeConfig) validatePrivateDNSDomain() error {
	d := strings.TrimSuffix(c.PrivateDNSDomain, ".")
	if d == "" {
		return nil
	}
	labels := strings.Split(d, ".")
	ok := len(labels) >= 2 && len(d) <= 200
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.ContainsFunc(l, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
		}) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("--private-dns-domain %q is not a DNS domain such as confluent.cloud (check $PEERPLANE_PRIVATE_DNS_DOMAIN)", c.PrivateDNSDomain)
	}
	return nil
}

// planeHosts claims the brokers' hosts from the data plane.
type planeHosts struct{ p *dataplane.Plane }

// ClaimHost implements kafka.Hosts.
func (h planeHosts) ClaimHost(ctx context.Context, vnetID string, addr netip.Addr, owner string) (kafka.Host, error) {
	host, err := h.p.Claim(ctx, dataplane.ClaimSpec{VNetID: vnetID, Addr: addr, Owner: owner})
	if err != nil {
		return nil, err
	}
	return host, nil
}

// startKafka returns the clusters' Kafka endpoints on the data plane (nil
// when it is off: clusters then have no brokers, kafka.Off says so), to
// be run by the caller.
func startKafka(cfg ServeConfig, plane *dataplane.Plane, svc *control.Service, ca func() (*tlsca.CA, error), log *slog.Logger) *kafka.Manager {
	if plane == nil {
		log.Info("Kafka endpoints off: they run on the data plane")
		return nil
	}
	return kafka.New(kafka.Options{Source: svc, Hosts: planeHosts{plane}, Keys: svc, Dir: filepath.Join(cfg.DataDir, "kafka"),
		Certificate: func(hosts ...string) (tls.Certificate, error) {
			c, err := ca()
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("the installation's CA: %w", err)
			}
			return c.ServerCertificate(hosts...)
		}, Logger: log})
}

// clusterEndpoints is the kafka.ClusterEndpoints of a server: the
// manager's, or kafka.Off without a data plane.
func clusterEndpoints(m *kafka.Manager) kafka.ClusterEndpoints {
	if m == nil {
		return kafka.Off{}
	}
	return m
}

// attachResolver gives a host the VNets' resolver, answering the
// clusters' private names; it returns the resolver's address, or "" when
// there is none (no Kafka endpoints, or the attach failed: logged).
func attachResolver(h *dataplane.Host, zone privatedns.Zone, log *slog.Logger) string {
	if zone == nil {
		return ""
	}
	if err := privatedns.Attach(h, zone, log); err != nil {
		if !errors.Is(err, dataplane.ErrClosed) {
			log.Warn("attach the VNet resolver to a host", "ip", h.Addr, "err", err)
		}
		return ""
	}
	return privatedns.ResolverAddr.String()
}
