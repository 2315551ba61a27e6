package main

import (
	"testing"

	"github.com/peerplane/peerplane/internal/azureemu"
)

func TestEventTarget(t *testing.T) {
	const prov, cust = "prov", "cust"
	vnet := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
	tests := []struct {
		ev      azureemu.Event
		want    [2]string
		peering string
		wantOK  bool
	}{
		{azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: vnet}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventRoleAssignment, TenantID: cust, ResourceID: "/subscriptions/s"}, [2]string{cust, "/subscriptions/s"}, "", true},
		{azureemu.Event{Type: azureemu.EventVNet, TenantID: cust, ResourceID: vnet}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventPeeringDeleted, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/p"}, [2]string{cust, vnet}, "", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: cust, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, [2]string{}, "peer-abc", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: vnet + "/virtualNetworkPeerings/peer-abc"}, [2]string{}, "peer-abc", true},
		{azureemu.Event{Type: azureemu.EventPeering, TenantID: prov, ResourceID: vnet + "/virtualNetworkPeerings/other"}, [2]string{}, "", false},
		{azureemu.Event{Type: azureemu.EventVNet, TenantID: prov, ResourceID: vnet}, [2]string{}, "", true},
		{azureemu.Event{Type: azureemu.EventConsent, TenantID: cust, ResourceID: "sp"}, [2]string{cust, ""}, "", true},
		{azureemu.Event{Type: azureemu.EventRoleDefinition, TenantID: cust, ResourceID: "r"}, [2]string{cust, ""}, "", true},
		{azureemu.Event{Type: azureemu.EventNSG, TenantID: cust, ResourceID: "n"}, [2]string{}, "", false},
	}
	for _, tt := range tests {
		got, peering, ok := eventTarget(tt.ev, prov)
		if got != tt.want || peering != tt.peering || ok != tt.wantOK {
			t.Errorf("eventTarget(%+v) = %q, %q, %v; want %q, %q, %v", tt.ev, got, peering, ok, tt.want, tt.peering, tt.wantOK)
		}
	}
}
