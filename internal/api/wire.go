package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// Wire shapes, as in Confluent's specs (../shared/specs/confluent).

type objectMeta struct {
	Self         string `json:"self"`
	ResourceName string `json:"resource_name,omitempty"`
	CreatedAt    string `json:"created_at,omitempty"`
	UpdatedAt    string `json:"updated_at,omitempty"`
}

type listMeta struct {
	First string `json:"first,omitempty"`
	Next  string `json:"next,omitempty"`
}

type objectRef struct {
	ID           string `json:"id"`
	Environment  string `json:"environment,omitempty"`
	Related      string `json:"related,omitempty"`
	ResourceName string `json:"resource_name,omitempty"`
}

type list[T any] struct {
	APIVersion string   `json:"api_version"`
	Kind       string   `json:"kind"`
	Metadata   listMeta `json:"metadata"`
	Data       []T      `json:"data"`
}

// org/v2 Environment (a flat object).
type environment struct {
	APIVersion             string            `json:"api_version"`
	Kind                   string            `json:"kind"`
	ID                     string            `json:"id"`
	Metadata               objectMeta        `json:"metadata"`
	DisplayName            string            `json:"display_name"`
	StreamGovernanceConfig *governanceConfig `json:"stream_governance_config,omitempty"`
}

type governanceConfig struct {
	Package string `json:"package"`
}

// networking/v1 Network.
type network struct {
	APIVersion string        `json:"api_version"`
	Kind       string        `json:"kind"`
	ID         string        `json:"id"`
	Metadata   objectMeta    `json:"metadata"`
	Spec       networkSpec   `json:"spec"`
	Status     networkStatus `json:"status"`
}

type networkSpec struct {
	DisplayName     string    `json:"display_name"`
	Cloud           string    `json:"cloud"`
	Region          string    `json:"region"`
	ConnectionTypes []string  `json:"connection_types"`
	CIDR            string    `json:"cidr"`
	Zones           []string  `json:"zones"`
	Environment     objectRef `json:"environment"`
}

type networkStatus struct {
	Phase                    string        `json:"phase"`
	SupportedConnectionTypes []string      `json:"supported_connection_types"`
	ActiveConnectionTypes    []string      `json:"active_connection_types"`
	ErrorCode                string        `json:"error_code,omitempty"`
	ErrorMessage             string        `json:"error_message,omitempty"`
	Cloud                    *azureNetwork `json:"cloud,omitempty"`
}

type azureNetwork struct {
	Kind         string `json:"kind"`
	VNet         string `json:"vnet"`
	Subscription string `json:"subscription"`
}

// networking/v1 Peering.
type peering struct {
	APIVersion string        `json:"api_version"`
	Kind       string        `json:"kind"`
	ID         string        `json:"id"`
	Metadata   objectMeta    `json:"metadata"`
	Spec       peeringSpec   `json:"spec"`
	Status     peeringStatus `json:"status"`
}

type peeringSpec struct {
	DisplayName string       `json:"display_name"`
	Cloud       azurePeering `json:"cloud"`
	Environment objectRef    `json:"environment"`
	Network     objectRef    `json:"network"`
}

type azurePeering struct {
	Kind           string `json:"kind"`
	Tenant         string `json:"tenant"`
	VNet           string `json:"vnet"`
	CustomerRegion string `json:"customer_region"`
}

type peeringStatus struct {
	Phase        string `json:"phase"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// cmk/v2 Cluster.
type cluster struct {
	APIVersion string        `json:"api_version"`
	Kind       string        `json:"kind"`
	ID         string        `json:"id"`
	Metadata   objectMeta    `json:"metadata"`
	Spec       clusterSpec   `json:"spec"`
	Status     clusterStatus `json:"status"`
}

type clusterSpec struct {
	DisplayName            string        `json:"display_name"`
	Availability           string        `json:"availability"`
	Cloud                  string        `json:"cloud"`
	Region                 string        `json:"region"`
	Config                 clusterConfig `json:"config"`
	KafkaBootstrapEndpoint string        `json:"kafka_bootstrap_endpoint,omitempty"`
	HTTPEndpoint           string        `json:"http_endpoint,omitempty"`
	// Endpoints is keyed by access point: one, the private network's.
	Endpoints   map[string]clusterEndpoints `json:"endpoints,omitempty"`
	Environment objectRef                   `json:"environment"`
	Network     objectRef                   `json:"network"`
}

type clusterEndpoints struct {
	KafkaBootstrapEndpoint string `json:"kafka_bootstrap_endpoint"`
	HTTPEndpoint           string `json:"http_endpoint"`
	ConnectionType         string `json:"connection_type"`
}

type clusterConfig struct {
	Kind string `json:"kind"`
	CKU  int    `json:"cku"`
}

type clusterStatus struct {
	Phase string `json:"phase"`
	CKU   int    `json:"cku,omitempty"`
}

// peerplane/v1 Organization and APIKey.
type organization struct {
	APIVersion  string     `json:"api_version"`
	Kind        string     `json:"kind"`
	ID          string     `json:"id"`
	Metadata    objectMeta `json:"metadata"`
	DisplayName string     `json:"display_name"`
	Operator    bool       `json:"operator"`
}

type apiKey struct {
	APIVersion   string     `json:"api_version"`
	Kind         string     `json:"kind"`
	ID           string     `json:"id"`
	Metadata     objectMeta `json:"metadata"`
	Organization string     `json:"organization"`
	Description  string     `json:"description"`
	Secret       string     `json:"secret,omitempty"` // only when created
}

// --- encoding ---

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// base returns the URL prefix of links for r.
func (s *Server) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) envRef(r *http.Request, orgID, envID string) objectRef {
	return objectRef{ID: envID, Related: s.base(r) + "/org/v2/environments/" + envID, ResourceName: control.EnvironmentCRN(orgID, envID)}
}

func (s *Server) networkRef(r *http.Request, orgID, envID, id string) objectRef {
	return objectRef{ID: id, Environment: envID, Related: s.base(r) + "/networking/v1/networks/" + id,
		ResourceName: control.NetworkCRN(orgID, envID, id)}
}

func (s *Server) encodeEnvironment(r *http.Request, e *control.Environment) environment {
	out := environment{
		APIVersion: "org/v2", Kind: "Environment", ID: e.ID,
		Metadata: objectMeta{
			Self: s.base(r) + "/org/v2/environments/" + e.ID, ResourceName: control.EnvironmentCRN(e.OrgID, e.ID),
			CreatedAt: stamp(e.CreatedAt), UpdatedAt: stamp(e.UpdatedAt),
		},
		DisplayName: e.DisplayName,
	}
	if e.StreamGovernancePackage != "" {
		out.StreamGovernanceConfig = &governanceConfig{Package: e.StreamGovernancePackage}
	}
	return out
}

func (s *Server) encodeNetwork(r *http.Request, n *control.Network) network {
	out := network{
		APIVersion: "networking/v1", Kind: "Network", ID: n.ID,
		Metadata: objectMeta{
			Self: s.base(r) + "/networking/v1/networks/" + n.ID, ResourceName: control.NetworkCRN(n.OrgID, n.EnvironmentID, n.ID),
			CreatedAt: stamp(n.CreatedAt), UpdatedAt: stamp(n.UpdatedAt),
		},
		Spec: networkSpec{
			DisplayName: n.DisplayName, Cloud: n.Cloud, Region: n.Region, ConnectionTypes: n.ConnectionTypes,
			CIDR: n.CIDR, Zones: n.Zones, Environment: s.envRef(r, n.OrgID, n.EnvironmentID),
		},
		Status: networkStatus{
			Phase: n.Status.Phase, SupportedConnectionTypes: n.ConnectionTypes, ActiveConnectionTypes: n.ConnectionTypes,
			ErrorCode: n.Status.ErrorCode, ErrorMessage: n.Status.ErrorMessage,
		},
	}
	if n.Status.AzureVNet != "" {
		out.Status.Cloud = &azureNetwork{Kind: "AzureNetwork", VNet: n.Status.AzureVNet, Subscription: n.Status.AzureSubscription}
	}
	return out
}

func (s *Server) encodePeering(r *http.Request, p *control.Peering) peering {
	return peering{
		APIVersion: "networking/v1", Kind: "Peering", ID: p.ID,
		Metadata: objectMeta{
			Self:         s.base(r) + "/networking/v1/peerings/" + p.ID,
			ResourceName: control.PeeringCRN(p.OrgID, p.EnvironmentID, p.NetworkID, p.ID),
			CreatedAt:    stamp(p.CreatedAt), UpdatedAt: stamp(p.UpdatedAt),
		},
		Spec: peeringSpec{
			DisplayName: p.DisplayName,
			Cloud:       azurePeering{Kind: "AzurePeering", Tenant: p.Tenant, VNet: p.VNet, CustomerRegion: p.CustomerRegion},
			Environment: s.envRef(r, p.OrgID, p.EnvironmentID),
			Network:     s.networkRef(r, p.OrgID, p.EnvironmentID, p.NetworkID),
		},
		Status: peeringStatus{Phase: p.Status.Phase, ErrorCode: p.Status.ErrorCode, ErrorMessage: p.Status.ErrorMessage},
	}
}

func (s *Server) encodeCluster(r *http.Request, c *control.Cluster) cluster {
	out := cluster{
		APIVersion: "cmk/v2", Kind: "Cluster", ID: c.ID,
		Metadata: objectMeta{
			Self:         s.base(r) + "/cmk/v2/clusters/" + c.ID,
			ResourceName: control.ClusterCRN(c.OrgID, c.EnvironmentID, c.ID),
			CreatedAt:    stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt),
		},
		Spec: clusterSpec{
			DisplayName: c.DisplayName, Availability: c.Availability, Cloud: c.Cloud, Region: c.Region,
			Config:                 clusterConfig{Kind: control.ClusterKindDedicated, CKU: c.CKU},
			KafkaBootstrapEndpoint: c.Status.BootstrapEndpoint, HTTPEndpoint: c.Status.HTTPEndpoint,
			Environment: s.envRef(r, c.OrgID, c.EnvironmentID),
			Network:     s.networkRef(r, c.OrgID, c.EnvironmentID, c.NetworkID),
		},
		Status: clusterStatus{Phase: c.Status.Phase},
	}
	if c.Status.Phase == control.ClusterPhaseProvisioned {
		out.Status.CKU = c.CKU
	}
	if c.Status.BootstrapEndpoint != "" && c.Status.HTTPEndpoint != "" {
		out.Spec.Endpoints = map[string]clusterEndpoints{control.PrivateEndpointsKey: {
			KafkaBootstrapEndpoint: c.Status.BootstrapEndpoint, HTTPEndpoint: c.Status.HTTPEndpoint,
			ConnectionType: control.ConnectionTypePrivateNetwork}}
	}
	return out
}

func (s *Server) encodeOrganization(r *http.Request, o *control.Organization) organization {
	return organization{
		APIVersion: "peerplane/v1", Kind: "Organization", ID: o.ID,
		Metadata: objectMeta{
			Self: s.base(r) + "/peerplane/v1/organizations/" + o.ID, ResourceName: control.OrganizationCRN(o.ID),
			CreatedAt: stamp(o.CreatedAt), UpdatedAt: stamp(o.UpdatedAt),
		},
		DisplayName: o.DisplayName, Operator: o.Operator,
	}
}

func (s *Server) encodeAPIKey(r *http.Request, k *control.APIKey, secret string) apiKey {
	return apiKey{
		APIVersion: "peerplane/v1", Kind: "ApiKey", ID: k.Key,
		Metadata: objectMeta{
			Self:      s.base(r) + "/peerplane/v1/organizations/" + k.OrgID + "/api-keys/" + k.Key,
			CreatedAt: stamp(k.CreatedAt), UpdatedAt: stamp(k.CreatedAt),
		},
		Organization: k.OrgID, Description: k.Description, Secret: secret,
	}
}

// --- decoding ---

const maxBody = 1 << 20

// decode reads r's JSON body into v. Errors are EINVALID (400) naming the
// field when the JSON names one.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errBadBody{control.Errorf(control.EINVALID, "Could not read the request body.")}
	}
	if len(body) > maxBody {
		return errBadBody{control.Errorf(control.EINVALID, "The request body is larger than %d bytes.", maxBody)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := "/" + strings.ReplaceAll(te.Field, ".", "/")
			return errBadBody{control.FieldErrorf(control.EINVALID, field, "Field %s must be of type %s, not %s.", field, te.Type, te.Value)}
		}
		return errBadBody{control.Errorf(control.EINVALID, "The request body is not valid JSON: %v.", err)}
	}
	return nil
}

// page reads page_size and page_token.
func page(r *http.Request) (control.Page, error) {
	q := r.URL.Query()
	p := control.Page{Token: q.Get("page_token")}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, control.FieldErrorf(control.EINVALID, "page_size", "Page size %q must be a positive integer.", s)
		}
		p.Size = n
	}
	return p, nil
}

// listMetadata returns first and next links for a page of the list at
// path, keeping r's filters.
func (s *Server) listMetadata(r *http.Request, path, next string) listMeta {
	q := r.URL.Query()
	q.Del("page_token")
	m := listMeta{First: s.base(r) + path + encodeQuery(q)}
	if next != "" {
		q.Set("page_token", next)
		m.Next = s.base(r) + path + encodeQuery(q)
	}
	return m
}

func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// environmentParam returns the required ?environment= parameter.
func environmentParam(r *http.Request) (string, error) {
	env := r.URL.Query().Get("environment")
	if env == "" {
		return "", control.FieldErrorf(control.EINVALID, "environment", "Query parameter environment is required.")
	}
	return env, nil
}

// upper returns vs in upper case (clouds and connection types are matched
// case-insensitively, as Confluent's examples use both).
func upper(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = strings.ToUpper(v)
	}
	return out
}
