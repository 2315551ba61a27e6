// Package world seeds the embedded Azure from a declarative YAML file: the
// tenants, users, app registrations, subscriptions, resource groups and
// virtual networks an operator (or a demo, or a test) wants to exist.
// Loading is idempotent: what already exists is left as it is, so the same
// file can be loaded at every start.
package world

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/peerplane/peerplane/internal/azureemu"
	"sigs.k8s.io/yaml"
)

// File is the world file's shape.
type File struct {
	Tenants []Tenant `json:"tenants"`
}

// Tenant is a tenant with what it holds.
type Tenant struct {
	ID            string                     `json:"id"`
	DisplayName   string                     `json:"displayName"`
	DefaultDomain string                     `json:"defaultDomain,omitempty"`
	Admin         *azureemu.UserSpec         `json:"admin,omitempty"`
	Users         []azureemu.UserSpec        `json:"users,omitempty"`
	Applications  []azureemu.ApplicationSpec `json:"applications,omitempty"`
	Subscriptions []Subscription             `json:"subscriptions,omitempty"`
}

// Subscription is a subscription with its resource groups.
type Subscription struct {
	ID             string          `json:"id"`
	DisplayName    string          `json:"displayName"`
	Owner          string          `json:"owner,omitempty"`
	ResourceGroups []ResourceGroup `json:"resourceGroups,omitempty"`
}

// ResourceGroup is a resource group with its virtual networks.
type ResourceGroup struct {
	Name            string            `json:"name"`
	Location        string            `json:"location"`
	Tags            map[string]string `json:"tags,omitempty"`
	VirtualNetworks []VirtualNetwork  `json:"virtualNetworks,omitempty"`
}

// VirtualNetwork is a VNet to create.
type VirtualNetwork struct {
	Name            string            `json:"name"`
	Location        string            `json:"location,omitempty"` // default: the group's
	AddressPrefixes []string          `json:"addressPrefixes"`
	Subnets         []Subnet          `json:"subnets,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// Subnet is a subnet of a VNet.
type Subnet struct {
	Name          string `json:"name"`
	AddressPrefix string `json:"addressPrefix"`
}

//go:embed demo.yaml
var demoYAML []byte

// Demo returns the demo world: one customer tenant, Contoso, with an admin,
// a subscription, a resource group and a VNet.
func Demo() (*File, error) { return Parse(demoYAML) }

// Parse decodes a world file, rejecting unknown fields.
func Parse(b []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		return nil, fmt.Errorf("parse world file: %w", err)
	}
	return &f, nil
}

// ReadFile parses the world file at path.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Apply creates what f describes and does not exist yet. Conflicts with
// existing objects are not errors; any other failure names the object.
func Apply(ctx context.Context, emu *azureemu.Emulator, f *File) error {
	for _, t := range f.Tenants {
		if _, err := emu.CreateTenant(ctx, azureemu.TenantSpec{ID: t.ID, DisplayName: t.DisplayName, DefaultDomain: t.DefaultDomain, Admin: t.Admin}); ignoreConflict(err) != nil {
			return fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		for _, u := range t.Users {
			if _, err := emu.CreateUser(ctx, t.ID, u); ignoreConflict(err) != nil {
				return fmt.Errorf("tenant %s: user %s: %w", t.ID, u.UserPrincipalName, err)
			}
		}
		for _, a := range t.Applications {
			if a.AppID != "" {
				if _, ok := emu.FindApplication(a.AppID); ok {
					continue
				}
			}
			if _, _, err := emu.CreateApplication(ctx, t.ID, a); ignoreConflict(err) != nil {
				return fmt.Errorf("tenant %s: application %s: %w", t.ID, a.DisplayName, err)
			}
		}
		for _, s := range t.Subscriptions {
			if _, err := emu.CreateSubscription(ctx, t.ID, azureemu.SubscriptionSpec{ID: s.ID, DisplayName: s.DisplayName, Owner: s.Owner}); ignoreConflict(err) != nil {
				return fmt.Errorf("subscription %s: %w", s.ID, err)
			}
			for _, rg := range s.ResourceGroups {
				// What exists is the customer's now (tags, address space,
				// subnets): a restart must not put it back as it was seeded.
				if _, ok := emu.FindResourceGroup(s.ID, rg.Name); !ok {
					if _, err := emu.PutResourceGroup(ctx, s.ID, rg.Name, rg.Location, rg.Tags); err != nil {
						return fmt.Errorf("subscription %s: resource group %s: %w", s.ID, rg.Name, err)
					}
				}
				for _, v := range rg.VirtualNetworks {
					if _, ok := emu.FindVirtualNetwork(s.ID, rg.Name, v.Name); ok {
						continue
					}
					spec := azureemu.VNetSpec{SubscriptionID: s.ID, ResourceGroup: rg.Name, Name: v.Name, Location: v.Location,
						AddressPrefixes: v.AddressPrefixes, Tags: v.Tags}
					if spec.Location == "" {
						spec.Location = rg.Location
					}
					for _, sn := range v.Subnets {
						spec.Subnets = append(spec.Subnets, azureemu.Subnet{Name: sn.Name, AddressPrefix: sn.AddressPrefix})
					}
					if _, err := emu.PutVirtualNetwork(ctx, spec); err != nil {
						return fmt.Errorf("subscription %s: vnet %s/%s: %w", s.ID, rg.Name, v.Name, err)
					}
				}
			}
		}
	}
	return nil
}

func ignoreConflict(err error) error {
	var ee *azureemu.Error
	if errors.As(err, &ee) && ee.Status == 409 {
		return nil
	}
	return err
}
