package api_test

import (
	"context"
	"net/http"
	"testing"

	apikeysv2 "github.com/confluentinc/ccloud-sdk-go-v2/apikeys/v2"

	"github.com/peerplane/peerplane/internal/control"
)

// clusterIn makes a READY-less network's cluster through the service and
// returns it (PROVISIONED with endpoints when provisioned is set).
func (h *harness) cluster(provisioned bool) (*control.Cluster, string) {
	h.t.Helper()
	ctx := control.NewContextWithOrganization(context.Background(), h.org)
	env := &control.Environment{DisplayName: "prod"}
	if err := h.svc.CreateEnvironment(ctx, env); err != nil {
		h.t.Fatal(err)
	}
	n := &control.Network{EnvironmentID: env.ID, DisplayName: "n", Cloud: "AZURE", Region: "eastus", CIDR: "10.10.0.0/16", ConnectionTypes: []string{"PEERING"}}
	if err := h.svc.CreateNetwork(ctx, n); err != nil {
		h.t.Fatal(err)
	}
	c := &control.Cluster{EnvironmentID: env.ID, NetworkID: n.ID, DisplayName: "orders", CKU: 2, Availability: control.AvailabilityMultiZone}
	if err := h.svc.CreateCluster(ctx, c); err != nil {
		h.t.Fatal(err)
	}
	if provisioned {
		start, _ := control.EndpointStart(n.CIDR, c.ID)
		brokers, err := control.AllocateBrokers(n.CIDR, start, 3, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		if _, err := h.svc.UpdateClusterStatus(context.Background(), c.ID, control.PrivateEndpoints(c, n, control.DefaultPrivateDNSDomain, brokers)); err != nil {
			h.t.Fatal(err)
		}
	}
	return c, env.ID
}

// TestClusterEndpointsWire: a PROVISIONED cluster shows its private
// bootstrap and REST endpoints, also in spec.endpoints, as the Confluent
// SDK reads them.
func TestClusterEndpointsWire(t *testing.T) {
	h := newHarness(t)
	c, env := h.cluster(true)
	r := h.do("GET", "/cmk/v2/clusters/"+c.ID+"?environment="+env, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	golden(t, r)
	got, _, err := h.cmk.ClustersCmkV2Api.GetCmkV2Cluster(h.ctx(), c.ID).Environment(env).Execute()
	if err != nil {
		t.Fatal(err)
	}
	host := control.ClusterHostname(c.ID, c.NetworkID, "eastus", control.DefaultPrivateDNSDomain)
	eps := got.Spec.GetEndpoints()
	ep, ok := eps[control.PrivateEndpointsKey]
	if got.Spec.GetKafkaBootstrapEndpoint() != host+":9092" || got.Spec.GetHttpEndpoint() != "https://"+host+":443" || !ok ||
		ep.KafkaBootstrapEndpoint != host+":9092" || ep.HttpEndpoint != "https://"+host+":443" || ep.ConnectionType != "PRIVATE_NETWORK" {
		t.Fatalf("endpoints: %q %q %+v", got.Spec.GetKafkaBootstrapEndpoint(), got.Spec.GetHttpEndpoint(), eps)
	}
}

// TestIAMAPIKeys drives iam/v2 api-keys with Confluent's apikeys SDK (the
// Terraform provider's confluent_api_key client): a cluster key is created
// (202, its secret once), read, listed by resource and owner, renamed and
// deleted; bad requests are 4xx naming the field and make nothing; the
// key is not a Cloud API key; another organization sees none of it.
func TestIAMAPIKeys(t *testing.T) {
	h := newHarness(t)
	c, env := h.cluster(true)
	cfg := apikeysv2.NewConfiguration()
	cfg.Servers = apikeysv2.ServerConfigurations{{URL: h.srv.URL}}
	sdk := apikeysv2.NewAPIClient(cfg)
	auth := context.WithValue(context.Background(), apikeysv2.ContextBasicAuth, apikeysv2.BasicAuth{UserName: h.key, Password: h.secret})

	name, desc, owner, kind, cluster, clusterKind := "app", "orders app", "sa-abc123", "ServiceAccount", c.ID, "Cluster"
	spec := apikeysv2.NewIamV2ApiKeySpec()
	spec.SetDisplayName(name)
	spec.SetDescription(desc)
	spec.SetOwner(apikeysv2.ObjectReference{Id: owner, Kind: &kind})
	spec.SetResource(apikeysv2.ObjectReference{Id: cluster, Kind: &clusterKind})
	created, resp, err := sdk.APIKeysIamV2Api.CreateIamV2ApiKey(auth).IamV2ApiKey(apikeysv2.IamV2ApiKey{Spec: spec}).Execute()
	if err != nil || resp.StatusCode != http.StatusAccepted || created.GetId() == "" || created.Spec.GetSecret() == "" {
		t.Fatalf("create: %v %v %+v", resp.Status, err, created)
	}
	if r := created.Spec.GetResource(); r.Id != c.ID || r.GetKind() != "Cluster" || r.GetApiVersion() != "cmk/v2" || r.GetEnvironment() != env {
		t.Fatalf("resource: %+v", r)
	}
	if o := created.Spec.GetOwner(); o.Id != owner || o.GetKind() != kind || o.GetApiVersion() != "iam/v2" {
		t.Fatalf("owner: %+v", o)
	}
	if resp.Header.Get("Location") != created.Metadata.Self {
		t.Fatalf("Location %q, self %q", resp.Header.Get("Location"), created.Metadata.Self)
	}
	key, secret := created.GetId(), created.Spec.GetSecret()
	if _, err := h.svc.AuthenticateClusterKey(context.Background(), c.ID, key, secret); err != nil {
		t.Fatalf("the created key does not authenticate its cluster: %v", err)
	}
	got, _, err := sdk.APIKeysIamV2Api.GetIamV2ApiKey(auth, key).Execute()
	if err != nil || got.Spec.GetSecret() != "" || got.Spec.GetDisplayName() != name {
		t.Fatalf("get: %+v %v (the secret is shown once)", got, err)
	}
	r := h.do("GET", "/iam/v2/api-keys/"+key, nil)
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	golden(t, r)
	for _, f := range []struct {
		resource, owner string
		want            int
	}{{c.ID, "", 1}, {"", owner, 1}, {"lkc-other1", "", 0}, {"", "sa-nobody", 0}, {"", "", 1}} {
		req := sdk.APIKeysIamV2Api.ListIamV2ApiKeys(auth)
		if f.resource != "" {
			req = req.SpecResource(f.resource)
		}
		if f.owner != "" {
			req = req.SpecOwner(f.owner)
		}
		list, _, err := req.Execute()
		if err != nil || len(list.Data) != f.want {
			t.Fatalf("list %+v: %d keys, %v", f, len(list.Data), err)
		}
	}
	renamed := "renamed"
	upd := apikeysv2.NewIamV2ApiKeySpecUpdate()
	upd.SetDisplayName(renamed)
	after, _, err := sdk.APIKeysIamV2Api.UpdateIamV2ApiKey(auth, key).IamV2ApiKeyUpdate(apikeysv2.IamV2ApiKeyUpdate{Spec: upd}).Execute()
	if err != nil || after.Spec.GetDisplayName() != renamed || after.Spec.GetDescription() != desc {
		t.Fatalf("update: %+v %v", after.Spec, err)
	}

	// A cluster key is no Cloud API key.
	h.do("GET", "/org/v2/environments", nil, key+":"+secret).wantError(t, http.StatusUnauthorized, "user_unauthenticated", "")

	// Another organization sees nothing of it.
	_, okey, osecret := h.newOrg("other", false)
	h.do("GET", "/iam/v2/api-keys/"+key, nil, okey+":"+osecret).wantError(t, http.StatusNotFound, "not_found", "")
	h.do("DELETE", "/iam/v2/api-keys/"+key, nil, okey+":"+osecret).wantError(t, http.StatusNotFound, "not_found", "")
	if list := h.do("GET", "/iam/v2/api-keys", nil, okey+":"+osecret).json(t); len(list["data"].([]any)) != 0 {
		t.Fatalf("another organization lists %v", list["data"])
	}
	h.do("POST", "/iam/v2/api-keys", map[string]any{"spec": map[string]any{"resource": map[string]any{"id": c.ID}}}, okey+":"+osecret).
		wantError(t, http.StatusNotFound, "not_found", "/spec/resource/id")

	// Bad requests name the field and make nothing.
	for _, bad := range []struct {
		body   any
		status int
		source string
	}{
		{map[string]any{}, 422, "/spec"},
		{map[string]any{"spec": map[string]any{}}, 422, "/spec/resource/id"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": "env-123"}}}, 422, "/spec/resource/id"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": c.ID, "kind": "Region"}}}, 422, "/spec/resource/kind"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": c.ID}, "owner": map[string]any{"id": "x-1"}}}, 422, "/spec/owner/id"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": c.ID}, "owner": map[string]any{"id": "u-1", "api_version": "v9"}}}, 422, "/spec/owner/api_version"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": c.ID}, "display_name": 5}}, 400, "/spec/display_name"},
		{map[string]any{"spec": map[string]any{"resources": []any{map[string]any{"id": c.ID}, map[string]any{"id": c.ID}}}}, 422, "/spec/resources"},
		{map[string]any{"spec": map[string]any{"resource": map[string]any{"id": "lkc-none00"}}}, 404, "/spec/resource/id"},
	} {
		code := map[int]string{400: "invalid_parameter", 404: "not_found", 422: "invalid_configuration"}[bad.status]
		h.do("POST", "/iam/v2/api-keys", bad.body).wantError(t, bad.status, code, bad.source)
	}
	h.do("PATCH", "/iam/v2/api-keys/"+key, map[string]any{"spec": map[string]any{"owner": map[string]any{"id": "u-2"}}}).wantError(t, 422, "invalid_configuration", "/spec")
	if list, _, _ := sdk.APIKeysIamV2Api.ListIamV2ApiKeys(auth).Execute(); len(list.Data) != 1 {
		t.Fatalf("bad requests made keys: %d", len(list.Data))
	}

	if resp, err := sdk.APIKeysIamV2Api.DeleteIamV2ApiKey(auth, key).Execute(); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", resp, err)
	}
	if _, err := h.svc.AuthenticateClusterKey(context.Background(), c.ID, key, secret); control.ErrorCode(err) != control.EUNAUTHORIZED {
		t.Fatalf("a deleted key authenticates: %v", err)
	}
	h.do("GET", "/iam/v2/api-keys/"+key, nil).wantError(t, http.StatusNotFound, "not_found", "")
}
