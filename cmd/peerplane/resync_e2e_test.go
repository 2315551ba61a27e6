package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/metrics/metricstest"
	"github.com/peerplane/peerplane/internal/reconcile"
)

// readCounter wraps the reconciler's Azure client and counts the provider
// VNet reads of network resyncs and the customer-half reads of peering
// resyncs.
type readCounter struct {
	reconcile.Azure
	providerVNetReads, customerHalfReads atomic.Int64
}

func (c *readCounter) GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error) {
	if strings.EqualFold(tenant, c.ProviderTenantID()) {
		c.providerVNetReads.Add(1)
	}
	return c.Azure.GetVNet(ctx, tenant, id)
}

func (c *readCounter) GetPeering(ctx context.Context, tenant, localVNetID, name string) (*azure.PeeringHalf, error) {
	if !strings.EqualFold(tenant, c.ProviderTenantID()) {
		c.customerHalfReads.Add(1)
	}
	return c.Azure.GetPeering(ctx, tenant, localVNetID, name)
}

// armWrites sums the embedded Azure's ARM writes in a scrape: every PUT,
// PATCH and DELETE of a resource group, VNet or peering half.
func armWrites(f metricstest.Families) float64 {
	var n float64
	for _, op := range f.LabelValues("peerplane_embedded_azure_requests_total", "operation") {
		if strings.HasSuffix(op, ".createOrUpdate") || strings.HasSuffix(op, ".update") || strings.HasSuffix(op, ".delete") {
			v, _ := f.Value("peerplane_embedded_azure_requests_total", "operation", op)
			n += v
		}
	}
	return n
}

// TestResyncOfAnUnchangedWorldWritesNothing: with the resyncs made
// frequent, a READY network and a READY peering are re-checked again and
// again against the embedded Azure, over HTTP, and not one of those
// re-checks writes to Azure: the reconciler reads, compares and finds
// nothing to do.
func TestResyncOfAnUnchangedWorldWritesNothing(t *testing.T) {
	counter := &readCounter{}
	e := startE2E(t, "", func(c *ServeConfig) {
		c.Resync, c.NetworkResync = 20*time.Millisecond, 20*time.Millisecond
		c.WrapAzure = func(a reconcile.Azure) reconcile.Azure { counter.Azure = a; return counter }
	})
	env := e.createEnv("resync")
	n := e.createNetwork(env, "n", "eastus", "10.200.0.0/16")
	e.grantDemoVNet(env)
	id := e.createPeering(env, n.GetId(), "p", demoVNetID, "eastus")
	e.waitPeering(env, id, "READY")

	before := metricstest.Scrape(t, nil, e.r.MetricsURL)
	vnetReads, halfReads := counter.providerVNetReads.Load(), counter.customerHalfReads.Load()
	const resyncs = 10
	deadline := time.Now().Add(e2eWait)
	for counter.providerVNetReads.Load() < vnetReads+resyncs || counter.customerHalfReads.Load() < halfReads+resyncs {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d network and %d peering resyncs, want %d of each", e2eWait,
				counter.providerVNetReads.Load()-vnetReads, counter.customerHalfReads.Load()-halfReads, resyncs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := metricstest.Scrape(t, nil, e.r.MetricsURL)
	if w := armWrites(after) - armWrites(before); w != 0 {
		t.Fatalf("%d resyncs of an unchanged network and peering made %v ARM writes, want none", resyncs, w)
	}
	if p, _ := e.waitPeering(env, id, "READY"); phaseOf(p) != "READY" {
		t.Fatalf("peering %s after the resyncs: %s", id, phaseOf(p))
	}
}
