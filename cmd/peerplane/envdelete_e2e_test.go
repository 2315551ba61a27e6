package main

// End-to-end tests of deleting an environment (org/v2 DELETE, which
// Confluent documents as recursive): through the Confluent Go SDKs against
// a real `peerplane serve --demo`, with Azure read back through the Azure
// SDK for Go as the provider and as Contoso's admin, and the rows read from
// the store itself.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	connectv1 "github.com/confluentinc/ccloud-sdk-go-v2/connect/v1"
	networkingv1 "github.com/confluentinc/ccloud-sdk-go-v2/networking/v1"
	orgv2 "github.com/confluentinc/ccloud-sdk-go-v2/org/v2"

	"github.com/peerplane/peerplane/internal/control"
	"github.com/peerplane/peerplane/internal/store"
)

// envWorld is an environment holding everything a Terraform configuration
// of the flow makes: a READY network, a READY peering with both Azure
// halves Connected (access granted as the customer does), a PROVISIONED
// Dedicated cluster and a managed connector in it.
type envWorld struct {
	*e2e
	env, network, provVNet, peering, cluster string
	netIDs, peeringIDs                       []string // every one made, whatever became of it
	connect                                  *connectv1.APIClient
}

func newEnvWorld(t *testing.T) *envWorld {
	e := startE2E(t, "")
	w := &envWorld{e2e: e}
	w.env = e.createEnv("doomed")
	n := e.createNetwork(w.env, "doomed-net", "eastus", "10.10.0.0/16")
	w.network, w.provVNet = n.GetId(), n.Status.GetCloud().NetworkingV1AzureNetwork.GetVnet()
	w.netIDs = append(w.netIDs, w.network)
	e.consent()
	e.putRole(e2eRoleActions...)
	e.assign(demoVNetID)
	e.tag(demoVNetID, w.env)
	w.peering = e.createPeering(w.env, w.network, "contoso", demoVNetID, "eastus")
	w.peeringIDs = append(w.peeringIDs, w.peering)
	e.waitPeering(w.env, w.peering, "READY")
	e.waitHalves(demoVNetID, w.provVNet, w.peering, "Connected", "Connected")
	c := e.createCluster(w.env, w.network, "kafka", 2)
	w.cluster = c.GetId()

	ccfg := connectv1.NewConfiguration()
	ccfg.Servers = connectv1.ServerConfigurations{{URL: e.r.APIURL}}
	w.connect = connectv1.NewAPIClient(ccfg)
	name, config := "orders-sink", map[string]string{"connector.class": "PostgresSink", "connection.url": "jdbc:postgresql://10.1.0.10:5432/orders", "topics": "orders"}
	_, resp, err := w.connect.ConnectorsConnectV1Api.CreateConnectv1Connector(w.connectCtx(), w.env, w.cluster).
		InlineObject(connectv1.InlineObject{Name: &name, Config: &config}).Execute()
	wantHTTP(t, "create connector", resp, err, http.StatusCreated)
	return w
}

func (w *envWorld) connectCtx() context.Context {
	return contextWithConnectAuth(w.t, w.r.Credentials.APIKey, w.r.Credentials.APISecret)
}

func (w *envWorld) deleteEnvironment() {
	w.t.Helper()
	resp, err := w.orgs.EnvironmentsOrgV2Api.DeleteOrgV2Environment(w.ctx(), w.env).Execute()
	wantHTTP(w.t, "delete environment "+w.env, resp, err, http.StatusNoContent)
}

// errorOf is the error a raw request answers: its status and, from
// Confluent's Failure body or Connect's, code, source and detail.
// deletePeeringAndCluster deletes the world's peering and cluster, as
// `terraform destroy` does first, each answering 204.
func (w *envWorld) deletePeeringAndCluster() {
	w.t.Helper()
	resp, err := w.networking.PeeringsNetworkingV1Api.DeleteNetworkingV1Peering(w.ctx(), w.peering).Environment(w.env).Execute()
	wantHTTP(w.t, "delete peering", resp, err, http.StatusNoContent)
	resp, err = w.cmk.ClustersCmkV2Api.DeleteCmkV2Cluster(w.ctx(), w.cluster).Environment(w.env).Execute()
	wantHTTP(w.t, "delete cluster", resp, err, http.StatusNoContent)
}

func (w *envWorld) errorOf(method, path string) string {
	w.t.Helper()
	var body struct {
		Errors []struct {
			Code, Title, Detail string
			Source              map[string]string
		}
		Error *struct {
			Code    int
			Message string
		}
	}
	status := w.peerplane(method, path, nil, &body)
	switch {
	case len(body.Errors) == 1:
		e := body.Errors[0]
		return fmt.Sprintf("%d %s %s %v: %s", status, e.Code, e.Title, e.Source, e.Detail)
	case body.Error != nil:
		return fmt.Sprintf("%d connect %d: %s", status, body.Error.Code, body.Error.Message)
	}
	w.t.Fatalf("%s %s: %d without an error body", method, path, status)
	return ""
}

// checkGoneAtOnce checks, right after the delete answered, that the
// environment and everything in it are gone to the API: 404 by id, lists
// under it answering as under an environment that never existed (Confluent
// answers 403 Forbidden Access for both), creates in it 404 naming
// /spec/environment/id.
func (w *envWorld) checkGoneAtOnce() {
	t, ctx := w.t, w.ctx()
	_, resp, err := w.orgs.EnvironmentsOrgV2Api.GetOrgV2Environment(ctx, w.env).Execute()
	wantHTTP(t, "get deleted environment", resp, err, http.StatusNotFound)
	_, resp, err = w.orgs.EnvironmentsOrgV2Api.UpdateOrgV2Environment(ctx, w.env).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: new("revived")}).Execute()
	wantHTTP(t, "patch deleted environment", resp, err, http.StatusNotFound)
	resp, err = w.orgs.EnvironmentsOrgV2Api.DeleteOrgV2Environment(ctx, w.env).Execute()
	wantHTTP(t, "delete deleted environment again", resp, err, http.StatusNotFound)
	envs, resp, err := w.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(ctx).Execute()
	wantHTTP(t, "list environments", resp, err, http.StatusOK)
	for _, e := range envs.Data {
		if e.GetId() == w.env {
			t.Fatalf("the deleted environment %s is listed", w.env)
		}
	}

	for _, id := range w.netIDs {
		_, resp, err := w.networking.NetworksNetworkingV1Api.GetNetworkingV1Network(ctx, id).Environment(w.env).Execute()
		wantHTTP(t, "get network "+id+" of the deleted environment", resp, err, http.StatusNotFound)
	}
	for _, id := range w.peeringIDs {
		_, resp, err := w.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(ctx, id).Environment(w.env).Execute()
		wantHTTP(t, "get peering "+id+" of the deleted environment", resp, err, http.StatusNotFound)
	}
	_, resp, err = w.cmk.ClustersCmkV2Api.GetCmkV2Cluster(ctx, w.cluster).Environment(w.env).Execute()
	wantHTTP(t, "get cluster of the deleted environment", resp, err, http.StatusNotFound)
	_, resp, err = w.connect.ConnectorsConnectV1Api.ReadConnectv1Connector(w.connectCtx(), "orders-sink", w.env, w.cluster).Execute()
	wantHTTP(t, "read connector of the deleted environment", resp, err, http.StatusNotFound)

	// Lists: the SDKs see Confluent's 403, and the answer is the one for
	// an environment that never existed.
	_, resp, err = w.networking.NetworksNetworkingV1Api.ListNetworkingV1Networks(ctx).Environment(w.env).Execute()
	wantHTTP(t, "list networks of the deleted environment", resp, err, http.StatusForbidden)
	_, resp, err = w.networking.PeeringsNetworkingV1Api.ListNetworkingV1Peerings(ctx).Environment(w.env).Execute()
	wantHTTP(t, "list peerings of the deleted environment", resp, err, http.StatusForbidden)
	_, resp, err = w.cmk.ClustersCmkV2Api.ListCmkV2Clusters(ctx).Environment(w.env).Execute()
	wantHTTP(t, "list clusters of the deleted environment", resp, err, http.StatusForbidden)
	const never = "env-never0"
	for _, path := range []string{
		"/networking/v1/networks?environment=%s",
		"/networking/v1/peerings?environment=%s",
		"/cmk/v2/clusters?environment=%s",
		"/connect/v1/environments/%s/clusters/" + w.cluster + "/connectors",
	} {
		deleted := strings.ReplaceAll(w.errorOf("GET", fmt.Sprintf(path, w.env)), w.env, "ENV")
		unknown := strings.ReplaceAll(w.errorOf("GET", fmt.Sprintf(path, never)), never, "ENV")
		if deleted != unknown {
			t.Errorf("GET %s: the deleted environment answers\n  %s\nan unknown one\n  %s", path, deleted, unknown)
		}
	}

	// Creating anything in it: 404 naming the environment.
	spec := networkingv1.NewNetworkingV1NetworkSpec()
	spec.SetDisplayName("late")
	spec.SetCloud("AZURE")
	spec.SetRegion("eastus")
	spec.SetCidr("10.20.0.0/16")
	spec.SetConnectionTypes([]string{"PEERING"})
	spec.SetEnvironment(networkingv1.ObjectReference{Id: w.env})
	_, resp, err = w.networking.NetworksNetworkingV1Api.CreateNetworkingV1Network(ctx).NetworkingV1Network(networkingv1.NetworkingV1Network{Spec: spec}).Execute()
	wantHTTP(t, "create network in the deleted environment", resp, err, http.StatusNotFound)
	if got := w.errorOfBody(err); !strings.Contains(got, "/spec/environment/id") {
		t.Errorf("create network in the deleted environment: %s, want it to name /spec/environment/id", got)
	}
	_, resp, err = w.postCluster(w.env, w.network, "late", 2)
	wantHTTP(t, "create cluster in the deleted environment", resp, err, http.StatusNotFound)
	if got := w.errorOfBody(err); !strings.Contains(got, "/spec/environment/id") {
		t.Errorf("create cluster in the deleted environment: %s, want it to name /spec/environment/id", got)
	}
}

func (w *envWorld) errorOfBody(err error) string {
	var ge interface{ Body() []byte }
	if errors.As(err, &ge) {
		return string(ge.Body())
	}
	return fmt.Sprint(err)
}

// waitAzureClean waits (bounded) until no half of the environment's
// peerings is left on the customer's VNet (read as Contoso's admin) and no
// provider VNet of its networks is left (read as the provider).
func (w *envWorld) waitAzureClean() {
	t := w.t
	_, rg, name := splitVNetID(t, demoVNetID)
	deadline := time.Now().Add(e2eWait)
	for {
		var left []string
		pager := w.peerings(w.admin, demoSubscription).NewListPager(rg, name, nil)
		for pager.More() {
			page, err := pager.NextPage(t.Context())
			if err != nil {
				t.Fatalf("list Contoso's halves: %v", err)
			}
			for _, h := range page.Value {
				for _, id := range w.peeringIDs {
					if strings.EqualFold(*h.Name, id) {
						left = append(left, "customer half "+id+" ("+halfState(h)+")")
					}
				}
			}
		}
		vpager := w.vnets(w.provider, w.r.Provider.SubscriptionID).NewListAllPager(nil)
		for vpager.More() {
			page, err := vpager.NextPage(t.Context())
			if err != nil {
				t.Fatalf("list the provider's VNets: %v", err)
			}
			for _, v := range page.Value {
				for _, id := range w.netIDs {
					if strings.EqualFold(*v.Name, id) {
						left = append(left, "provider VNet "+*v.ID)
					}
				}
			}
		}
		_, prg, pname := splitVNetID(t, w.provVNet)
		_, err := w.vnets(w.provider, w.r.Provider.SubscriptionID).Get(t.Context(), prg, pname, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
			left = append(left, fmt.Sprintf("provider VNet %s reads %v", pname, err))
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left in Azure %s after the environment's delete: %v", e2eWait, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRowsGone waits (bounded) until the store holds no row of the
// environment or of anything that was in it.
func (w *envWorld) waitRowsGone() {
	waitRowsGone(w.t, filepath.Join(w.dir, "peerplane.db"), map[string]string{w.env: w.cluster})
}

// waitRowsGone waits (bounded) until the store at dsn holds no row of the
// environments (the keys of envClusters), of anything in them, nor any
// connector of their clusters (the values).
func waitRowsGone(t *testing.T, dsn string, envClusters map[string]string) {
	t.Helper()
	db, err := store.Open(t.Context(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	deadline := time.Now().Add(e2eWait)
	for {
		var left []string
		err := db.Control().View(ctx, func(tx control.Tx) error {
			var errs []error
			for env, cluster := range envClusters {
				if _, err := tx.FindEnvironmentByID(ctx, control.AllOrgs(), env); control.ErrorCode(err) != control.ENOTFOUND {
					left = append(left, fmt.Sprintf("environment %s (%v)", env, err))
				}
				ns, err := tx.FindNetworks(ctx, control.AllOrgs(), control.NetworkFilter{EnvironmentID: env})
				errs = append(errs, err)
				for _, n := range ns {
					left = append(left, "network "+n.ID+" "+n.Status.Phase)
				}
				ps, err := tx.FindPeerings(ctx, control.AllOrgs(), control.PeeringFilter{EnvironmentID: env})
				errs = append(errs, err)
				for _, p := range ps {
					left = append(left, "peering "+p.ID+" "+p.Status.Phase)
				}
				cs, err := tx.FindClusters(ctx, control.AllOrgs(), control.ClusterFilter{EnvironmentID: env})
				errs = append(errs, err)
				for _, c := range cs {
					left = append(left, "cluster "+c.ID)
				}
				if cluster == "" {
					continue // an empty ClusterID would select every connector
				}
				ks, err := tx.FindConnectors(ctx, control.AllOrgs(), control.ConnectorFilter{ClusterID: cluster})
				errs = append(errs, err)
				for _, k := range ks {
					left = append(left, "connector "+k.Name)
				}
			}
			return errors.Join(errs...)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows left %s after the environments' delete: %v", e2eWait, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2EDeleteEnvironmentTerraformOrder is `terraform destroy` of the
// flow's configuration, in the Confluent provider's order and without its
// waits: DELETE peering, cluster, network, environment back to back. The
// network's DELETE may be refused (409) while its peering is being
// removed, as before; the environment's is 204 whatever is left, and the
// reconciler then removes both halves, the provider VNet and every row.
func TestE2EDeleteEnvironmentTerraformOrder(t *testing.T) {
	w := newEnvWorld(t)
	ctx := w.ctx()
	w.deletePeeringAndCluster()
	resp, err := w.networking.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, w.network).Environment(w.env).Execute()
	if resp == nil || resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusConflict {
		t.Fatalf("delete network: want 204, or 409 while its peering is being removed; got %s", sdkErr(resp, err))
	}
	t.Logf("delete network right after its peering: %d", resp.StatusCode)
	begin := time.Now()
	w.deleteEnvironment()

	w.checkGoneAtOnce()
	w.waitAzureClean()
	w.waitRowsGone()
	t.Logf("Azure and the store were clean %v after the environment's DELETE", time.Since(begin).Round(time.Millisecond))
}

// TestE2EDeleteNetworkThenEnvironment is `terraform destroy` as the
// Confluent provider runs it: it waits for the peering and the cluster to
// be gone (404), deletes the network (204) and, a few milliseconds later,
// the environment — which answers 204 although the network is still being
// deleted, then 404, with no Azure half or provider VNet left behind.
func TestE2EDeleteNetworkThenEnvironment(t *testing.T) {
	w := newEnvWorld(t)
	ctx := w.ctx()
	w.deletePeeringAndCluster()
	// The provider polls each deleted resource until it reads 404.
	for deadline := time.Now().Add(e2eWait); ; time.Sleep(20 * time.Millisecond) {
		_, resp, err := w.networking.PeeringsNetworkingV1Api.GetNetworkingV1Peering(ctx, w.peering).Environment(w.env).Execute()
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peering %s still reads %s %v after its delete", w.peering, sdkErr(resp, err), e2eWait)
		}
	}
	resp, err := w.networking.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, w.network).Environment(w.env).Execute()
	wantHTTP(t, "delete network", resp, err, http.StatusNoContent)
	w.deleteEnvironment() // at once: the network is DEPROVISIONING
	w.checkGoneAtOnce()
	w.waitAzureClean()
	w.waitRowsGone()
}

// TestE2EDeleteEnvironmentHoldingEverything deletes, in one call, an
// environment that holds networks in every phase (READY with a READY
// peering, a FAILED peering, a cluster and a connector; one just created;
// one being deleted): 204, gone at once to the API, the CLI and the
// console, and then gone from Azure and the store. The organization, at
// its environments_per_org quota, may create an environment at once.
func TestE2EDeleteEnvironmentHoldingEverything(t *testing.T) {
	w := newEnvWorld(t)
	ctx := w.ctx()
	// A peering that fails: a VNet the app may read but not tagged for
	// the environment.
	stranger := w.createVNet("contoso-network", "stranger", "eastus", "10.3.0.0/16")
	w.assign(stranger)
	failed := w.createPeering(w.env, w.network, "stranger", stranger, "eastus")
	w.peeringIDs = append(w.peeringIDs, failed)
	w.waitFailed(w.env, failed, "VNET_NOT_AUTHORIZED_FOR_ENVIRONMENT")
	// A network being deleted, and one just created.
	going := w.createNetwork(w.env, "going", "eastus", "10.11.0.0/16")
	gone := going.GetId()
	resp, err := w.networking.NetworksNetworkingV1Api.DeleteNetworkingV1Network(ctx, gone).Environment(w.env).Execute()
	wantHTTP(t, "delete network "+gone, resp, err, http.StatusNoContent)
	spec := networkingv1.NewNetworkingV1NetworkSpec()
	spec.SetCloud("AZURE")
	spec.SetRegion("eastus")
	spec.SetCidr("10.12.0.0/16")
	spec.SetConnectionTypes([]string{"PEERING"})
	spec.SetEnvironment(networkingv1.ObjectReference{Id: w.env})
	fresh, resp, err := w.networking.NetworksNetworkingV1Api.CreateNetworkingV1Network(ctx).NetworkingV1Network(networkingv1.NetworkingV1Network{Spec: spec}).Execute()
	wantHTTP(t, "create network", resp, err, http.StatusAccepted)
	w.netIDs = append(w.netIDs, gone, fresh.GetId())

	// The console shows the environment before the delete.
	console := w.consoleSession()
	if st := console.get("/console/environments/" + w.env); st != http.StatusOK {
		t.Fatalf("console environment page before the delete: %d", st)
	}

	begin := time.Now()
	w.deleteEnvironment()
	w.checkGoneAtOnce()
	if st := console.get("/console/environments/" + w.env); st != http.StatusNotFound {
		t.Errorf("console environment page after the delete: %d, want 404", st)
	}
	if st := console.get("/console/environments/" + w.env + "/networks/" + w.network); st != http.StatusNotFound {
		t.Errorf("console network page after the delete: %d, want 404", st)
	}
	w.checkCLI()

	// At the quota, the deleted environment no longer counts.
	limit := control.DefaultSettings().EnvironmentsPerOrg
	envs, _, err := w.orgs.EnvironmentsOrgV2Api.ListOrgV2Environments(ctx).PageSize(100).Execute()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(envs.Data); i < limit; i++ {
		w.createEnv(fmt.Sprint("filler-", i))
	}
	name := "over"
	_, resp, err = w.orgs.EnvironmentsOrgV2Api.CreateOrgV2Environment(ctx).OrgV2Environment(orgv2.OrgV2Environment{DisplayName: &name}).Execute()
	wantHTTP(t, "create environment past the quota", resp, err, http.StatusPaymentRequired)

	w.waitAzureClean()
	w.waitRowsGone()
	t.Logf("Azure and the store were clean %v after the environment's DELETE (checks included)", time.Since(begin).Round(time.Millisecond))
}

// consoleClient is a signed-in console session over plain HTTP.
type consoleClient struct {
	t      *testing.T
	base   string
	client *http.Client
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleSession signs in to the console with the API key, as a browser
// does (form, cookie, CSRF token).
func (w *envWorld) consoleSession() *consoleClient {
	t := w.t
	jar, _ := cookiejar.New(nil)
	c := &consoleClient{t: t, base: w.r.APIURL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := c.client.Get(c.base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	m := consoleCSRF.FindStringSubmatch(readAll(resp))
	if m == nil {
		t.Fatalf("no CSRF token on the console's sign-in page")
	}
	form := url.Values{"csrf": {m[1]}, "key": {w.r.Credentials.APIKey}, "secret": {w.r.Credentials.APISecret}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.base+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err = c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console sign-in: %s", resp.Status)
	}
	return c
}

func (c *consoleClient) get(path string) int {
	c.t.Helper()
	resp, err := c.client.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	readAll(resp)
	return resp.StatusCode
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// checkCLI runs the built peerplane binary as a user would after the
// delete: describing the environment, listing its networks and deleting
// it again all fail, saying why.
func (w *envWorld) checkCLI() {
	t := w.t
	r := newCLIRunner(t, w.dir)
	run := func(args ...string) (string, int) {
		out, stderr, code := r.exec(t, args...)
		return out + stderr, code
	}
	if out, code := run("login", "--data-dir", w.dir); code != 0 {
		t.Fatalf("peerplane login: exit %d\n%s", code, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"environment", "describe", w.env}, "not found"},
		{[]string{"environment", "delete", w.env}, "not found"},
		{[]string{"network", "list", "--environment", w.env}, "Forbidden Access"},
		{[]string{"network", "describe", w.network, "--environment", w.env}, "not found"},
	} {
		out, code := run(tt.args...)
		if code != 1 || !strings.Contains(out, tt.want) {
			t.Errorf("peerplane %s: exit %d, want 1 saying %q:\n%s", strings.Join(tt.args, " "), code, tt.want, out)
		}
	}
	if out, code := run("environment", "list"); code != 0 || strings.Contains(out, w.env) {
		t.Errorf("peerplane environment list after the delete: exit %d\n%s", code, out)
	}
}
