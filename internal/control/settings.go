package control

import (
	"slices"
	"strings"
)

// Quota names, as Confluent's (they appear in quota_exceeded errors).
const (
	QuotaEnvironmentsPerOrg          = "environments_per_org"
	QuotaNetworksPerEnvironment      = "dedicated_networks_per_environment"
	QuotaPeeringsPerNetwork          = "peerings_per_network"
	QuotaKafkaClustersPerEnvironment = "kafka_clusters_per_environment"
	QuotaDedicatedClustersPerNetwork = "dedicated_clusters_per_network"
	QuotaDedicatedCKUsPerNetwork     = "dedicated_ckus_per_network"
)

// Settings are the rules and quotas the operator may change. The zero value
// is not useful; start from DefaultSettings. A Settings holds slices: copy
// it with Clone before changing it, so that no other holder sees the change.
type Settings struct {
	EnvironmentsPerOrg     int `json:"environments_per_org"`
	NetworksPerEnvironment int `json:"dedicated_networks_per_environment"`
	PeeringsPerNetwork     int `json:"peerings_per_network"`
	ClustersPerEnvironment int `json:"kafka_clusters_per_environment"`
	ClustersPerNetwork     int `json:"dedicated_clusters_per_network"`
	CKUsPerNetwork         int `json:"dedicated_ckus_per_network"`

	// ReservedCIDRs are ranges no network may overlap.
	ReservedCIDRs []string `json:"reserved_cidrs"`
	// AllowedRegionPairs are the (network region, customer region) pairs for
	// which cross-region peering is allowed; a pair allows both directions.
	AllowedRegionPairs [][2]string `json:"allowed_region_pairs"`
	// AzureRegions are the regions networks and peerings may name.
	AzureRegions []string `json:"azure_regions"`
}

// DefaultSettings returns the defaults of SPEC.md.
func DefaultSettings() Settings {
	return Settings{
		EnvironmentsPerOrg:     25,
		NetworksPerEnvironment: 10,
		PeeringsPerNetwork:     25,
		ClustersPerEnvironment: 20,
		ClustersPerNetwork:     10,
		CKUsPerNetwork:         64,
		ReservedCIDRs: []string{
			"10.253.0.0/16", "10.254.0.0/16", "172.17.0.0/16", "172.30.0.0/16", "172.31.0.0/16",
		},
		AzureRegions: append([]string(nil), defaultAzureRegions...),
	}
}

// Clone returns a deep copy of s: changing or decoding into the copy never
// changes s.
func (s Settings) Clone() Settings {
	c := s
	c.ReservedCIDRs = slices.Clone(s.ReservedCIDRs)
	c.AllowedRegionPairs = slices.Clone(s.AllowedRegionPairs)
	c.AzureRegions = slices.Clone(s.AzureRegions)
	return c
}

// defaultAzureRegions are Azure's public regions (programmatic names).
var defaultAzureRegions = []string{
	"australiacentral", "australiacentral2", "australiaeast", "australiasoutheast",
	"austriaeast", "belgiumcentral", "brazilsouth", "brazilsoutheast",
	"canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
	"eastasia", "eastus", "eastus2", "francecentral", "francesouth",
	"germanynorth", "germanywestcentral", "indonesiacentral", "israelcentral",
	"italynorth", "japaneast", "japanwest", "jioindiacentral", "jioindiawest",
	"koreacentral", "koreasouth", "malaysiawest", "mexicocentral", "newzealandnorth",
	"northcentralus", "northeurope", "norwayeast", "norwaywest", "polandcentral",
	"qatarcentral", "southafricanorth", "southafricawest", "southcentralus",
	"southindia", "southeastasia", "spaincentral", "swedencentral", "swedensouth",
	"switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth",
	"ukwest", "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
}

// HasRegion reports whether region is in the Azure region list (exact,
// lowercase programmatic names).
func (s Settings) HasRegion(region string) bool {
	for _, r := range s.AzureRegions {
		if r == region {
			return true
		}
	}
	return false
}

// CrossRegionAllowed reports whether a network in networkRegion may peer
// with a VNet in customerRegion: always when they are equal, otherwise only
// when the operator allowed the pair.
func (s Settings) CrossRegionAllowed(networkRegion, customerRegion string) bool {
	if strings.EqualFold(networkRegion, customerRegion) {
		return true
	}
	for _, p := range s.AllowedRegionPairs {
		if strings.EqualFold(p[0], networkRegion) && strings.EqualFold(p[1], customerRegion) ||
			strings.EqualFold(p[1], networkRegion) && strings.EqualFold(p[0], customerRegion) {
			return true
		}
	}
	return false
}

// Validate reports settings that cannot work: non-positive quotas, bad
// CIDRs or unknown regions in pairs. Returns EINVALID naming the field.
func (s Settings) Validate() error {
	quotas := []struct {
		name string
		v    int
	}{
		{QuotaEnvironmentsPerOrg, s.EnvironmentsPerOrg},
		{QuotaNetworksPerEnvironment, s.NetworksPerEnvironment},
		{QuotaPeeringsPerNetwork, s.PeeringsPerNetwork},
		{QuotaKafkaClustersPerEnvironment, s.ClustersPerEnvironment},
		{QuotaDedicatedClustersPerNetwork, s.ClustersPerNetwork},
		{QuotaDedicatedCKUsPerNetwork, s.CKUsPerNetwork},
	}
	for _, q := range quotas {
		if q.v < 1 {
			return FieldErrorf(EINVALID, "/"+q.name, "Quota %s must be at least 1.", q.name)
		}
	}
	for i, c := range s.ReservedCIDRs {
		if _, err := parseIPv4Prefix(c); err != nil {
			return FieldErrorf(EINVALID, "/reserved_cidrs/"+itoa(i), "Reserved CIDR %q is not an IPv4 CIDR block.", c)
		}
	}
	if len(s.AzureRegions) == 0 {
		return FieldErrorf(EINVALID, "/azure_regions", "The Azure region list must not be empty.")
	}
	for i, p := range s.AllowedRegionPairs {
		for j, r := range p {
			if !s.HasRegion(r) {
				return FieldErrorf(EINVALID, "/allowed_region_pairs/"+itoa(i)+"/"+itoa(j), "Region %q is not an Azure region.", r)
			}
		}
	}
	return nil
}
