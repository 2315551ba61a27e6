package control

// Confluent Resource Names (CRNs) name a resource the way Confluent Cloud
// does in metadata.resource_name, in references' resource_name and in role
// bindings' crn_pattern. Each is its parent's CRN plus one kind=id segment:
//
//	crn://confluent.cloud/organization=<org>
//	  …/environment=env-…
//	    …/network=n-…
//	      …/peering=peer-…
//	    …/cloud-cluster=lkc-…                  the cluster's scope
//	      …/kafka=lkc-…                        the Kafka cluster (its resource_name)
//	      …/connector=<name>                   a managed connector
//
// A Kafka cluster's resource_name ends in /kafka=<id> under its own
// cloud-cluster scope: the Terraform provider derives the cluster's rbac_crn
// by cutting the resource_name at its last "/kafka=", and fails ("could not
// construct rbac_crn") without it; topics, groups and connectors are named
// under that scope. Every id in a CRN is one Peerplane generated or
// validated (no "/" or "="), so nothing is escaped.

// crnRoot is the scheme and authority of every CRN.
const crnRoot = "crn://confluent.cloud"

// OrganizationCRN returns an organization's CRN.
func OrganizationCRN(orgID string) string {
	return crnRoot + "/organization=" + orgID
}

// EnvironmentCRN returns an environment's CRN.
func EnvironmentCRN(orgID, envID string) string {
	return OrganizationCRN(orgID) + "/environment=" + envID
}

// NetworkCRN returns a network's CRN.
func NetworkCRN(orgID, envID, networkID string) string {
	return EnvironmentCRN(orgID, envID) + "/network=" + networkID
}

// PeeringCRN returns a peering's CRN, under its network's.
func PeeringCRN(orgID, envID, networkID, peeringID string) string {
	return NetworkCRN(orgID, envID, networkID) + "/peering=" + peeringID
}

// ClusterScopeCRN returns the CRN of a cluster's scope, the one role
// bindings name (the Terraform provider's rbac_crn):
// …/environment=env-…/cloud-cluster=lkc-….
func ClusterScopeCRN(orgID, envID, clusterID string) string {
	return EnvironmentCRN(orgID, envID) + "/cloud-cluster=" + clusterID
}

// ClusterCRN returns a Kafka cluster's CRN, its resource_name:
// …/cloud-cluster=lkc-…/kafka=lkc-….
func ClusterCRN(orgID, envID, clusterID string) string {
	return ClusterScopeCRN(orgID, envID, clusterID) + "/kafka=" + clusterID
}

// ConnectorCRN returns a managed connector's CRN, named by the connector's
// name under its cluster's scope: …/cloud-cluster=lkc-…/connector=<name>.
func ConnectorCRN(orgID, envID, clusterID, name string) string {
	return ClusterScopeCRN(orgID, envID, clusterID) + "/connector=" + name
}
