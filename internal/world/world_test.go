package world_test

import (
	"context"
	"slices"
	"testing"

	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/world"
)

// TestApplyKeepsWhatExists applies the demo world twice, as two starts of
// `peerplane serve --demo` do, with the customer's changes in between:
// the second Apply must not put the VNet back as it was seeded.
func TestApplyKeepsWhatExists(t *testing.T) {
	ctx := context.Background()
	emu, err := azureemu.New(ctx, azureemu.Options{BaseURL: "https://127.0.0.1:8443"})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := world.Demo()
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Apply(ctx, emu, demo); err != nil {
		t.Fatal(err)
	}
	const sub, rg, name = "6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02", "contoso-network", "contoso-vnet"
	v, ok := emu.FindVirtualNetwork(sub, rg, name)
	if !ok || !slices.Equal(v.AddressPrefixes, []string{"10.1.0.0/16"}) {
		t.Fatalf("seeded vnet %+v", v)
	}
	// The customer tags the VNet and grows its address space.
	spec := azureemu.VNetSpec{SubscriptionID: sub, ResourceGroup: rg, Name: name, Location: v.Location,
		AddressPrefixes: []string{"10.1.0.0/16", "10.2.0.0/16"}, Subnets: v.Subnets, Tags: map[string]string{"ConfluentEnvIDs": "env-abc123"}}
	if _, err := emu.PutVirtualNetwork(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.PutResourceGroup(ctx, sub, rg, "eastus", map[string]string{"owner": "net-team"}); err != nil {
		t.Fatal(err)
	}

	if err := world.Apply(ctx, emu, demo); err != nil {
		t.Fatal(err)
	}
	v, _ = emu.FindVirtualNetwork(sub, rg, name)
	if v.Tags["ConfluentEnvIDs"] != "env-abc123" || !slices.Equal(v.AddressPrefixes, spec.AddressPrefixes) {
		t.Fatalf("the second Apply reset the customer's vnet: tags %v, address space %v", v.Tags, v.AddressPrefixes)
	}
	if g, _ := emu.FindResourceGroup(sub, rg); g.Tags["owner"] != "net-team" {
		t.Fatalf("the second Apply reset the resource group's tags: %v", g.Tags)
	}
}
