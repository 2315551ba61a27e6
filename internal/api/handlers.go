package api

import (
	"context"
	"net/http"

	"github.com/peerplane/peerplane/internal/control"
)

// --- request bodies ---

type refIn struct {
	ID string `json:"id"`
}

type environmentIn struct {
	DisplayName            *string `json:"display_name"`
	StreamGovernanceConfig *struct {
		Package string `json:"package"`
	} `json:"stream_governance_config"`
}

type networkIn struct {
	Spec *struct {
		DisplayName     *string  `json:"display_name"`
		Cloud           *string  `json:"cloud"`
		Region          *string  `json:"region"`
		ConnectionTypes []string `json:"connection_types"`
		CIDR            *string  `json:"cidr"`
		Zones           []string `json:"zones"`
		Environment     *refIn   `json:"environment"`
	} `json:"spec"`
}

type peeringIn struct {
	Spec *struct {
		DisplayName *string `json:"display_name"`
		Cloud       *struct {
			Kind           string `json:"kind"`
			Tenant         string `json:"tenant"`
			VNet           string `json:"vnet"`
			CustomerRegion string `json:"customer_region"`
		} `json:"cloud"`
		Environment *refIn `json:"environment"`
		Network     *refIn `json:"network"`
	} `json:"spec"`
}

type clusterIn struct {
	Spec *struct {
		DisplayName  *string `json:"display_name"`
		Availability string  `json:"availability"`
		Cloud        string  `json:"cloud"`
		Region       string  `json:"region"`
		Config       *struct {
			Kind string `json:"kind"`
			CKU  *int   `json:"cku"`
		} `json:"config"`
		Environment *refIn `json:"environment"`
		Network     *refIn `json:"network"`
	} `json:"spec"`
}

func missingSpec() error {
	return control.FieldErrorf(control.EINVALID, "/spec", "The request body needs a spec.")
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func refID(r *refIn) string {
	if r == nil {
		return ""
	}
	return r.ID
}

// envFromBody returns spec.environment.id, else ?environment=.
func envFromBody(r *http.Request, ref *refIn) (string, error) {
	if id := refID(ref); id != "" {
		return id, nil
	}
	if id := r.URL.Query().Get("environment"); id != "" {
		return id, nil
	}
	return "", control.FieldErrorf(control.EINVALID, "/spec/environment/id", "The environment (spec.environment.id) is required.")
}

// getInEnv answers GET …/{id}?environment=… with find and encode.
func getInEnv[T, W any](w http.ResponseWriter, r *http.Request, find func(ctx context.Context, env, id string) (T, error), encode func(*http.Request, T) W) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	v, err := find(r.Context(), env, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, encode(r, v))
	return nil
}

// deleteInEnv answers DELETE …/{id}?environment=… with del.
func deleteInEnv(w http.ResponseWriter, r *http.Request, del func(ctx context.Context, env, id string) error) error {
	env, err := environmentParam(r)
	if err != nil {
		return err
	}
	return noContent(w, del(r.Context(), env, r.PathValue("id")))
}

// envPage reads ?environment= and the page of a list request.
func envPage(r *http.Request) (string, control.Page, error) {
	env, err := environmentParam(r)
	if err != nil {
		return "", control.Page{}, err
	}
	p, err := page(r)
	return env, p, err
}

// writeOK answers 200 with v encoded, or err.
func writeOK[T, W any](w http.ResponseWriter, r *http.Request, v T, err error, encode func(*http.Request, T) W) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, encode(r, v))
	return nil
}

// noContent answers a delete: 204, or err.
func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeList writes one page of items as a Confluent list object.
func writeList[T, W any](s *Server, w http.ResponseWriter, r *http.Request, apiVersion, kind, path string, next string, items []T, encode func(*http.Request, T) W) {
	out := list[W]{APIVersion: apiVersion, Kind: kind, Metadata: s.listMetadata(r, path, next), Data: make([]W, 0, len(items))}
	for _, it := range items {
		out.Data = append(out.Data, encode(r, it))
	}
	writeJSON(w, http.StatusOK, out)
}

// writeCreated writes a new object with its Location.
func writeCreated(w http.ResponseWriter, status int, self string, v any) {
	w.Header().Set("Location", self)
	writeJSON(w, status, v)
}

// --- org/v2 environments ---

func (s *Server) listEnvironments(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	envs, next, err := s.opts.Environments.FindEnvironments(r.Context(), p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "org/v2", "EnvironmentList", "/org/v2/environments", next, envs, s.encodeEnvironment)
	return nil
}

func (s *Server) createEnvironment(w http.ResponseWriter, r *http.Request) error {
	var in environmentIn
	if err := decode(r, &in); err != nil {
		return err
	}
	env := &control.Environment{DisplayName: str(in.DisplayName)}
	if in.StreamGovernanceConfig != nil {
		env.StreamGovernancePackage = in.StreamGovernanceConfig.Package
	}
	if err := s.opts.Environments.CreateEnvironment(r.Context(), env); err != nil {
		return err
	}
	out := s.encodeEnvironment(r, env)
	writeCreated(w, http.StatusCreated, out.Metadata.Self, out)
	return nil
}

func (s *Server) getEnvironment(w http.ResponseWriter, r *http.Request) error {
	env, err := s.opts.Environments.FindEnvironmentByID(r.Context(), r.PathValue("id"))
	return writeOK(w, r, env, err, s.encodeEnvironment)
}

func (s *Server) updateEnvironment(w http.ResponseWriter, r *http.Request) error {
	var in environmentIn
	if err := decode(r, &in); err != nil {
		return err
	}
	upd := control.EnvironmentUpdate{DisplayName: in.DisplayName}
	if in.StreamGovernanceConfig != nil {
		upd.StreamGovernancePackage = &in.StreamGovernanceConfig.Package
	}
	env, err := s.opts.Environments.UpdateEnvironment(r.Context(), r.PathValue("id"), upd)
	return writeOK(w, r, env, err, s.encodeEnvironment)
}

func (s *Server) deleteEnvironment(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.opts.Environments.DeleteEnvironment(r.Context(), r.PathValue("id")))
}

// --- networking/v1 networks ---

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	env, p, err := envPage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter := control.NetworkFilter{
		EnvironmentID:   env,
		DisplayNames:    q["spec.display_name"],
		Clouds:          upper(q["spec.cloud"]),
		Regions:         q["spec.region"],
		ConnectionTypes: upper(q["spec.connection_types"]),
		CIDRs:           q["spec.cidr"],
		Phases:          upper(q["status.phase"]),
	}
	nets, next, err := s.opts.Networks.FindNetworks(r.Context(), filter, p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "networking/v1", "NetworkList", "/networking/v1/networks", next, nets, s.encodeNetwork)
	return nil
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) error {
	var in networkIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	n := &control.Network{
		EnvironmentID:   refID(in.Spec.Environment),
		DisplayName:     str(in.Spec.DisplayName),
		Cloud:           str(in.Spec.Cloud),
		Region:          str(in.Spec.Region),
		CIDR:            str(in.Spec.CIDR),
		ConnectionTypes: in.Spec.ConnectionTypes,
		Zones:           in.Spec.Zones,
	}
	if err := s.opts.Networks.CreateNetwork(r.Context(), n); err != nil {
		return err
	}
	out := s.encodeNetwork(r, n)
	writeCreated(w, http.StatusAccepted, out.Metadata.Self, out)
	return nil
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request) error {
	return getInEnv(w, r, s.opts.Networks.FindNetworkByID, s.encodeNetwork)
}

func (s *Server) updateNetwork(w http.ResponseWriter, r *http.Request) error {
	var in networkIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	env, err := envFromBody(r, in.Spec.Environment)
	if err != nil {
		return err
	}
	upd := control.NetworkUpdate{
		DisplayName: in.Spec.DisplayName, Cloud: in.Spec.Cloud, Region: in.Spec.Region, CIDR: in.Spec.CIDR,
		ConnectionTypes: in.Spec.ConnectionTypes,
	}
	n, err := s.opts.Networks.UpdateNetwork(r.Context(), env, r.PathValue("id"), upd)
	return writeOK(w, r, n, err, s.encodeNetwork)
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) error {
	return deleteInEnv(w, r, s.opts.Networks.DeleteNetwork)
}

// --- networking/v1 peerings ---

func (s *Server) listPeerings(w http.ResponseWriter, r *http.Request) error {
	env, p, err := envPage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter := control.PeeringFilter{
		EnvironmentID: env,
		NetworkIDs:    q["spec.network"],
		DisplayNames:  q["spec.display_name"],
		Phases:        upper(q["status.phase"]),
		// The list shows no checklist (the diagnosis does).
		WithoutChecklist: true,
	}
	ps, next, err := s.opts.Peerings.FindPeerings(r.Context(), filter, p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "networking/v1", "PeeringList", "/networking/v1/peerings", next, ps, s.encodePeering)
	return nil
}

// peeringKinds are the accepted spec.cloud.kind values.
var peeringKinds = map[string]string{
	"AzurePeering":               control.CloudAzure,
	"networking.v1.AzurePeering": control.CloudAzure,
	"AwsPeering":                 "AWS",
	"networking.v1.AwsPeering":   "AWS",
	"GcpPeering":                 "GCP",
	"networking.v1.GcpPeering":   "GCP",
}

func (s *Server) createPeering(w http.ResponseWriter, r *http.Request) error {
	var in peeringIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	c := in.Spec.Cloud
	if c == nil {
		return control.FieldErrorf(control.EINVALID, "/spec/cloud", "The peering's cloud details (spec.cloud, kind AzurePeering) are required.")
	}
	cloud, ok := peeringKinds[c.Kind]
	if !ok {
		return control.FieldErrorf(control.EINVALID, "/spec/cloud/kind", "Peering kind %q is not supported; use AzurePeering.", c.Kind)
	}
	p := &control.Peering{
		EnvironmentID:  refID(in.Spec.Environment),
		NetworkID:      refID(in.Spec.Network),
		DisplayName:    str(in.Spec.DisplayName),
		Cloud:          cloud,
		Tenant:         c.Tenant,
		VNet:           c.VNet,
		CustomerRegion: c.CustomerRegion,
	}
	if err := s.opts.Peerings.CreatePeering(r.Context(), p); err != nil {
		return err
	}
	out := s.encodePeering(r, p)
	writeCreated(w, http.StatusAccepted, out.Metadata.Self, out)
	return nil
}

func (s *Server) getPeering(w http.ResponseWriter, r *http.Request) error {
	return getInEnv(w, r, s.opts.Peerings.FindPeeringByID, s.encodePeering)
}

func (s *Server) updatePeering(w http.ResponseWriter, r *http.Request) error {
	var in peeringIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	env, err := envFromBody(r, in.Spec.Environment)
	if err != nil {
		return err
	}
	upd := control.PeeringUpdate{DisplayName: in.Spec.DisplayName}
	if in.Spec.Network != nil {
		upd.NetworkID = &in.Spec.Network.ID
	}
	if c := in.Spec.Cloud; c != nil {
		upd.Cloud = &control.PeeringCloud{Tenant: c.Tenant, VNet: c.VNet, CustomerRegion: c.CustomerRegion}
	}
	p, err := s.opts.Peerings.UpdatePeering(r.Context(), env, r.PathValue("id"), upd)
	return writeOK(w, r, p, err, s.encodePeering)
}

func (s *Server) deletePeering(w http.ResponseWriter, r *http.Request) error {
	return deleteInEnv(w, r, s.opts.Peerings.DeletePeering)
}

// --- cmk/v2 clusters ---

func (s *Server) listClusters(w http.ResponseWriter, r *http.Request) error {
	env, p, err := envPage(r)
	if err != nil {
		return err
	}
	filter := control.ClusterFilter{EnvironmentID: env, NetworkIDs: r.URL.Query()["spec.network"]}
	cs, next, err := s.opts.Clusters.FindClusters(r.Context(), filter, p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "cmk/v2", "ClusterList", "/cmk/v2/clusters", next, cs, s.encodeCluster)
	return nil
}

func dedicatedConfig(kind string) error {
	switch kind {
	case "Dedicated", "cmk.v2.Dedicated":
		return nil
	case "":
		return control.FieldErrorf(control.EINVALID, "/spec/config/kind", "The cluster kind (spec.config.kind) is required; use Dedicated.")
	}
	return control.FieldErrorf(control.EINVALID, "/spec/config/kind", "Cluster kind %q is not offered; only Dedicated clusters are.", kind)
}

func (s *Server) createCluster(w http.ResponseWriter, r *http.Request) error {
	var in clusterIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	if in.Spec.Config == nil {
		return control.FieldErrorf(control.EINVALID, "/spec/config", "The cluster configuration (spec.config, kind Dedicated) is required.")
	}
	if err := dedicatedConfig(in.Spec.Config.Kind); err != nil {
		return err
	}
	if in.Spec.Config.CKU == nil {
		return control.FieldErrorf(control.EINVALID, "/spec/config/cku", "The number of CKUs (spec.config.cku) is required.")
	}
	c := &control.Cluster{
		EnvironmentID: refID(in.Spec.Environment),
		NetworkID:     refID(in.Spec.Network),
		DisplayName:   str(in.Spec.DisplayName),
		Availability:  in.Spec.Availability,
		Cloud:         in.Spec.Cloud,
		Region:        in.Spec.Region,
		CKU:           *in.Spec.Config.CKU,
	}
	if err := s.opts.Clusters.CreateCluster(r.Context(), c); err != nil {
		return err
	}
	out := s.encodeCluster(r, c)
	writeCreated(w, http.StatusAccepted, out.Metadata.Self, out)
	return nil
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) error {
	return getInEnv(w, r, s.opts.Clusters.FindClusterByID, s.encodeCluster)
}

func (s *Server) updateCluster(w http.ResponseWriter, r *http.Request) error {
	var in clusterIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Spec == nil {
		return missingSpec()
	}
	env, err := envFromBody(r, in.Spec.Environment)
	if err != nil {
		return err
	}
	upd := control.ClusterUpdate{DisplayName: in.Spec.DisplayName}
	if cfg := in.Spec.Config; cfg != nil {
		if err := dedicatedConfig(cfg.Kind); err != nil {
			return err
		}
		upd.CKU = cfg.CKU
	}
	c, err := s.opts.Clusters.UpdateCluster(r.Context(), env, r.PathValue("id"), upd)
	return writeOK(w, r, c, err, s.encodeCluster)
}

func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request) error {
	return deleteInEnv(w, r, s.opts.Clusters.DeleteCluster)
}

// --- peerplane/v1 organizations and API keys ---

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	orgs, next, err := s.opts.Orgs.FindOrganizations(r.Context(), p)
	if err != nil {
		return err
	}
	writeList(s, w, r, "peerplane/v1", "OrganizationList", "/peerplane/v1/organizations", next, orgs, s.encodeOrganization)
	return nil
}

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		DisplayName string `json:"display_name"`
		Operator    bool   `json:"operator"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	org := &control.Organization{DisplayName: in.DisplayName, Operator: in.Operator}
	if err := s.opts.Orgs.CreateOrganization(r.Context(), org); err != nil {
		return err
	}
	out := s.encodeOrganization(r, org)
	writeCreated(w, http.StatusCreated, out.Metadata.Self, out)
	return nil
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request) error {
	org, err := s.opts.Orgs.FindOrganizationByID(r.Context(), r.PathValue("id"))
	return writeOK(w, r, org, err, s.encodeOrganization)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.opts.Orgs.FindAPIKeys(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := list[apiKey]{APIVersion: "peerplane/v1", Kind: "ApiKeyList", Metadata: s.listMetadata(r, r.URL.Path, ""), Data: []apiKey{}}
	for _, k := range keys {
		out.Data = append(out.Data, s.encodeAPIKey(r, k, ""))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Description string `json:"description"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	k, secret, err := s.opts.Orgs.CreateAPIKey(r.Context(), r.PathValue("id"), in.Description)
	if err != nil {
		return err
	}
	out := s.encodeAPIKey(r, k, secret)
	w.Header().Set("Location", out.Metadata.Self)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	return noContent(w, s.opts.Orgs.DeleteAPIKey(r.Context(), r.PathValue("id"), r.PathValue("key")))
}
