package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"

	"github.com/peerplane/peerplane/internal/control"
)

// terraformRBACCRN applies the Terraform provider's rule for a Kafka
// cluster's rbac_crn (internal/provider, clusterCrnToRbacClusterCrn, as
// read): the cluster's resource_name up to its last "/kafka=" segment, and
// an error ("could not construct rbac_crn") when it has none.
func terraformRBACCRN(resourceName string) (string, error) {
	i := strings.LastIndex(resourceName, "/kafka=")
	if i < 0 {
		return "", fmt.Errorf("could not find /kafka= in %s", resourceName)
	}
	return resourceName[:i], nil
}

// crnSegments splits a CRN into its kind=id segments, checking the scheme
// and authority and that every segment is one kind=id pair.
func crnSegments(t *testing.T, crn string) []string {
	t.Helper()
	rest, ok := strings.CutPrefix(crn, "crn://confluent.cloud/")
	if !ok {
		t.Fatalf("%q does not start with crn://confluent.cloud/", crn)
	}
	segs := strings.Split(rest, "/")
	for _, s := range segs {
		kind, id, ok := strings.Cut(s, "=")
		if !ok || kind == "" || id == "" || strings.Contains(id, "=") {
			t.Fatalf("segment %q of %q is not kind=id", s, crn)
		}
	}
	return segs
}

// TestCRNs reads every kind's CRN through Confluent's SDKs and checks its
// shape against Confluent's (organization, environment, network, peering,
// cloud-cluster/kafka, cloud-cluster/connector), that references carry the
// referenced object's own CRN, and that the Terraform provider's rbac_crn
// rule finds the cluster's scope, under which the connector is named.
func TestCRNs(t *testing.T) {
	if _, err := terraformRBACCRN("crn://confluent.cloud/organization=o/environment=env-1/cloud-cluster=lkc-1"); err == nil {
		t.Fatal("the rbac_crn rule accepts a cluster CRN without /kafka=; the test could not fail")
	}
	h := newHarness(t)
	ctx := h.ctx()
	org := h.org.ID

	env, resp, err := h.orgs.EnvironmentsOrgV2Api.CreateOrgV2Environment(ctx).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: ptr("prod")}).Execute()
	wantStatus(t, resp, err, http.StatusCreated)
	envID := env.GetId()

	n, resp, err := h.sdkNetwork(ctx, envID, "net", "10.10.0.0/16")
	wantStatus(t, resp, err, http.StatusAccepted)
	netID := n.GetId()
	p, resp, err := h.sdkPeering(ctx, envID, netID, "peer", "AzurePeering", vnetID("rg", "vnet"))
	wantStatus(t, resp, err, http.StatusAccepted)
	c, resp, err := h.sdkCluster(ctx, envID, netID, "SINGLE_ZONE", 1)
	wantStatus(t, resp, err, http.StatusAccepted)
	c, resp, err = h.cmk.ClustersCmkV2Api.GetCmkV2Cluster(ctx, c.GetId()).Environment(envID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	clusterID := c.GetId()

	connect := h.connectClient()
	cctx := context.WithValue(context.Background(), connectv1.ContextBasicAuth, connectv1.BasicAuth{UserName: h.key, Password: h.secret})
	name := "orders-sink"
	config := map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.0.1.10:5432/orders",
		"connection.password": "hunter2", "topics": "orders"}
	_, resp, err = connect.ConnectorsConnectV1Api.CreateConnectv1Connector(cctx, envID, clusterID).
		InlineObject(connectv1.InlineObject{Name: &name, Config: &config}).Execute()
	wantStatus(t, resp, err, http.StatusCreated)
	conn, resp, err := connect.ConnectorsConnectV1Api.ReadConnectv1Connector(cctx, name, envID, clusterID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	connCRN := conn.Config["connector.crn"]

	orgResp := h.do("GET", "/peerplane/v1/organizations/"+org, nil)
	if orgResp.status != http.StatusOK {
		t.Fatalf("get organization: %d %s", orgResp.status, orgResp.body)
	}
	orgCRN, _ := orgResp.json(t)["metadata"].(map[string]any)["resource_name"].(string)

	// Each kind's segments, in Confluent's order.
	for _, tt := range []struct {
		kind, crn string
		want      []string
	}{
		{"organization", orgCRN, []string{"organization=" + org}},
		{"environment", env.Metadata.GetResourceName(), []string{"organization=" + org, "environment=" + envID}},
		{"network", n.Metadata.GetResourceName(), []string{"organization=" + org, "environment=" + envID, "network=" + netID}},
		{"peering", p.Metadata.GetResourceName(), []string{"organization=" + org, "environment=" + envID, "network=" + netID, "peering=" + p.GetId()}},
		{"cluster", c.Metadata.GetResourceName(), []string{"organization=" + org, "environment=" + envID, "cloud-cluster=" + clusterID, "kafka=" + clusterID}},
		{"connector", connCRN, []string{"organization=" + org, "environment=" + envID, "cloud-cluster=" + clusterID, "connector=" + name}},
	} {
		if got := crnSegments(t, tt.crn); strings.Join(got, "/") != strings.Join(tt.want, "/") {
			t.Errorf("%s CRN %q has segments %q, want %q", tt.kind, tt.crn, got, tt.want)
		}
	}

	// References name the referenced object by its own CRN.
	for _, ref := range []struct{ what, got, want string }{
		{"network's environment", n.Spec.Environment.GetResourceName(), env.Metadata.GetResourceName()},
		{"peering's environment", p.Spec.Environment.GetResourceName(), env.Metadata.GetResourceName()},
		{"peering's network", p.Spec.Network.GetResourceName(), n.Metadata.GetResourceName()},
		{"cluster's environment", c.Spec.Environment.GetResourceName(), env.Metadata.GetResourceName()},
		{"cluster's network", c.Spec.Network.GetResourceName(), n.Metadata.GetResourceName()},
	} {
		if ref.got != ref.want {
			t.Errorf("the %s reference is %q, want %q", ref.what, ref.got, ref.want)
		}
	}

	// Terraform: rbac_crn is the cluster's scope under its environment;
	// role bindings name topics and connectors under it.
	rbac, err := terraformRBACCRN(c.Metadata.GetResourceName())
	if err != nil {
		t.Fatalf("terraform could not construct rbac_crn: %v", err)
	}
	if want := env.Metadata.GetResourceName() + "/cloud-cluster=" + clusterID; rbac != want {
		t.Fatalf("rbac_crn %q, want %q", rbac, want)
	}
	if rbac+"/kafka="+clusterID != c.Metadata.GetResourceName() {
		t.Fatalf("rbac_crn %q + /kafka=%s is not the cluster's CRN %q", rbac, clusterID, c.Metadata.GetResourceName())
	}
	if connCRN != rbac+"/connector="+name {
		t.Fatalf("connector CRN %q, want the cluster's rbac_crn + /connector=%s", connCRN, name)
	}
	// And the builder everyone uses agrees.
	if got := control.ClusterCRN(org, envID, clusterID); got != c.Metadata.GetResourceName() {
		t.Fatalf("control.ClusterCRN %q, the API says %q", got, c.Metadata.GetResourceName())
	}

	// The connector's CRN is in every config the API shows, and only there:
	// a config sent back with it (or with another) stores none.
	list, resp, err := connect.ConnectorsConnectV1Api.ListConnectv1ConnectorsWithExpansions(cctx, envID, clusterID).Expand("info").Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if got := list[name].Info.GetConfig()["connector.crn"]; got != connCRN {
		t.Fatalf("expand=info shows connector.crn %q, read shows %q", got, connCRN)
	}
	got, resp, err := connect.ConnectorsConnectV1Api.GetConnectv1ConnectorConfig(cctx, name, envID, clusterID).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if got["connector.crn"] != connCRN {
		t.Fatalf("config shows connector.crn %q", got["connector.crn"])
	}
	got["connector.crn"] = "crn://confluent.cloud/organization=someone-else"
	got["connection.password"] = "hunter3"
	put, resp, err := connect.ConnectorsConnectV1Api.CreateOrUpdateConnectv1ConnectorConfig(cctx, name, envID, clusterID).RequestBody(got).Execute()
	wantStatus(t, resp, err, http.StatusOK)
	if put.Config["connector.crn"] != connCRN {
		t.Fatalf("after a PUT naming another CRN, connector.crn is %q", put.Config["connector.crn"])
	}
	stored, err := h.svc.FindConnector(control.NewContextWithOrganization(context.Background(), h.org), envID, clusterID, name)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := stored.Config["connector.crn"]; ok {
		t.Fatalf("the stored config holds connector.crn %q", v)
	}

	t.Run("connector", func(t *testing.T) {
		r := h.do("GET", "/connect/v1/environments/"+envID+"/clusters/"+clusterID+"/connectors/"+name, nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		golden(t, r)
	})
}

// connectClient returns Confluent's Connect SDK pointed at the harness.
func (h *harness) connectClient() *connectv1.APIClient {
	cfg := connectv1.NewConfiguration()
	cfg.Servers = connectv1.ServerConfigurations{{URL: h.srv.URL}}
	return connectv1.NewAPIClient(cfg)
}
