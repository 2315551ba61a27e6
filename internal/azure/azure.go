// Package azure is the narrow slice of Azure the control plane needs to
// peer a provider VNet with a customer's: tokens for a customer tenant (is
// the provider app consented there?), reading a VNet, and creating, reading
// and deleting the two halves of a peering, each half with an auxiliary
// token for the other tenant. It is built on the real Azure SDK for Go and
// works the same against real Azure and against the embedded one; which
// one is only a matter of Config.Cloud and Config.Transport.
package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Config says which Azure to talk to and as whom.
type Config struct {
	// Cloud is the Azure cloud: authority host and ARM endpoint/audience.
	// The zero value means Azure public cloud.
	Cloud cloud.Configuration
	// Transport sends the SDK's requests; nil means the SDK's default.
	// The embedded Azure needs one that trusts its CA.
	Transport policy.Transporter
	// DisableInstanceDiscovery skips Entra ID's instance discovery, which
	// needs the real login.microsoftonline.com; set for the embedded Azure.
	DisableInstanceDiscovery bool

	// The provider app (multi-tenant) and where provider VNets live.
	ProviderTenantID       string
	ClientID               string
	ClientSecret           string
	ProviderSubscriptionID string
	ProviderResourceGroup  string
	ProviderLocation       string // of the resource group

	// Observe, when set, is told of every HTTP request the client sends
	// (ARM calls and Entra ID token requests alike): its Operation, the
	// final status (0 when no response came) and its duration, retries
	// included. It must be cheap and safe for concurrent use.
	Observe func(operation string, status int, d time.Duration)
}

// Client calls Azure as the provider app. It is safe for concurrent use.
type Client struct {
	cfg Config

	mu    sync.Mutex
	creds map[string]*azidentity.ClientSecretCredential // by tenant
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.ProviderTenantID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" || cfg.ProviderSubscriptionID == "" {
		return nil, errors.New("azure: provider tenant, client id, client secret and subscription are required")
	}
	if cfg.ProviderResourceGroup == "" {
		cfg.ProviderResourceGroup = "peerplane-networks"
	}
	return &Client{cfg: cfg, creds: map[string]*azidentity.ClientSecretCredential{}}, nil
}

// ProviderTenantID returns the provider's tenant id.
func (c *Client) ProviderTenantID() string { return c.cfg.ProviderTenantID }

// Error is an Azure error: an ARM error code (AuthorizationFailed,
// LinkedAuthorizationFailed, ResourceNotFound, …) or, for token failures,
// an Entra ID code (AADSTS700016, …), with Azure's message.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// Codes of Error the control plane distinguishes: Entra ID's for tokens,
// ARM's for resources.
const (
	CodeAppNotInTenant = "AADSTS700016" // the app has no service principal in the tenant
	CodeTenantNotFound = "AADSTS90002"  // no such tenant

	// The caller lacks an action on the resource's scope, or the resource
	// does not exist: ARM answers the same for both when the caller may
	// not read the scope.
	CodeAuthorizationFailed = "AuthorizationFailed"
	// The caller lacks an action on a linked scope: for a peering, the
	// remote VNet's virtualNetworks/peer/action.
	CodeLinkedAuthorizationFailed        = "LinkedAuthorizationFailed"
	CodeResourceNotFound                 = "ResourceNotFound"
	CodeResourceGroupNotFound            = "ResourceGroupNotFound"
	CodeSubscriptionNotFound             = "SubscriptionNotFound"
	CodeInvalidAuthenticationTokenTenant = "InvalidAuthenticationTokenTenant" // the subscription is in another tenant
	CodeVnetAddressSpacesOverlap         = "VnetAddressSpacesOverlap"
	CodeVnetAddressSpaceOverlapsPeered   = "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet"
)

// Peering states (PeeringHalf.State).
const (
	PeeringInitiated    = "Initiated"    // this half exists, the remote one does not
	PeeringConnected    = "Connected"    // both halves exist
	PeeringDisconnected = "Disconnected" // the remote half was deleted
)

// Peering sync levels (PeeringHalf.SyncLevel): whether this half knows the
// remote VNet's current address space.
const (
	SyncFullyInSync             = "FullyInSync"
	SyncRemoteNotInSync         = "RemoteNotInSync"
	SyncLocalNotInSync          = "LocalNotInSync"
	SyncLocalAndRemoteNotInSync = "LocalAndRemoteNotInSync"
)

// IsNotFound reports whether err is Azure's 404 for a resource.
func IsNotFound(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// ErrorCode returns the Azure code of err, or "".
func ErrorCode(err error) string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

var aadstsRE = regexp.MustCompile(`AADSTS\d+`)

var objectIDRE = regexp.MustCompile(`with object id '([0-9A-Fa-f-]{36})'`)

// PrincipalID returns the object id of the principal an authorization
// error names (ARM's AuthorizationFailed and LinkedAuthorizationFailed
// messages say "The client '…' with object id '…'"), or "".
func PrincipalID(err error) string {
	var ae *Error
	if !errors.As(err, &ae) {
		return ""
	}
	if m := objectIDRE.FindStringSubmatch(ae.Message); m != nil {
		return m[1]
	}
	return ""
}

// translate turns SDK errors into *Error, keeping others as they are.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		out := &Error{Status: re.StatusCode, Code: re.ErrorCode}
		if re.RawResponse != nil && re.RawResponse.Body != nil {
			b, _ := io.ReadAll(re.RawResponse.Body)
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
				out.Message = body.Error.Message
				if out.Code == "" {
					out.Code = body.Error.Code
				}
			}
		}
		if out.Message == "" {
			out.Message = re.Error()
		}
		return out
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		out := &Error{Status: http.StatusUnauthorized, Code: "AuthenticationFailed", Message: afe.Error()}
		if afe.RawResponse != nil {
			out.Status = afe.RawResponse.StatusCode
			if afe.RawResponse.Body != nil {
				b, _ := io.ReadAll(afe.RawResponse.Body)
				var body struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if json.Unmarshal(b, &body) == nil && body.Description != "" {
					out.Message = body.Description
				}
			}
		}
		if m := aadstsRE.FindString(out.Message); m != "" {
			out.Code = m
		}
		return out
	}
	return err
}

func (c *Client) clientOptions() policy.ClientOptions {
	o := policy.ClientOptions{Cloud: c.cfg.Cloud, Transport: c.cfg.Transport}
	if c.cfg.Observe != nil {
		o.PerCallPolicies = []policy.Policy{observePolicy{observe: c.cfg.Observe}}
	}
	return o
}

// cred returns the provider app's credential in tenant.
func (c *Client) cred(tenant string) (*azidentity.ClientSecretCredential, error) {
	key := strings.ToLower(tenant)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr := c.creds[key]; cr != nil {
		return cr, nil
	}
	cr, err := azidentity.NewClientSecretCredential(tenant, c.cfg.ClientID, c.cfg.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:              c.clientOptions(),
		DisableInstanceDiscovery:   c.cfg.DisableInstanceDiscovery,
		AdditionallyAllowedTenants: []string{"*"},
	})
	if err != nil {
		return nil, err
	}
	c.creds[key] = cr
	return cr, nil
}

func (c *Client) armScope() string {
	aud := "https://management.core.windows.net/"
	if s, ok := c.cfg.Cloud.Services[cloud.ResourceManager]; ok && s.Audience != "" {
		aud = s.Audience
	}
	return strings.TrimRight(aud, "/") + "/.default"
}

// CheckTenantAccess gets a token for ARM in tenant as the provider app. It
// fails with Code AADSTS700016 when the app has no service principal there
// (no admin consent yet).
func (c *Client) CheckTenantAccess(ctx context.Context, tenant string) error {
	cr, err := c.cred(tenant)
	if err != nil {
		return err
	}
	_, err = cr.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.armScope()}})
	return translate(err)
}

// ResourceID is a parsed VNet resource id (azureid's).
type ResourceID = azureid.ResourceID

// ParseVNetID parses
// "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{name}"
// (azureid.ParseVNetID); it returns an error naming the id for another
// shape.
func ParseVNetID(id string) (ResourceID, error) { return azureid.ParseVNetID(id) }

// VNetID formats a VNet resource id (azureid.VNetID).
func VNetID(sub, rg, name string) string { return azureid.VNetID(sub, rg, name) }

// VNet is what the control plane needs to know of a virtual network.
type VNet struct {
	ID              string
	Name            string
	Location        string
	AddressPrefixes []string
	Tags            map[string]string
}

// PeeringHalf is one half of a VNet peering as Azure reports it.
type PeeringHalf struct {
	ID                 string
	Name               string
	RemoteVNetID       string
	State              string // PeeringInitiated, PeeringConnected or PeeringDisconnected
	SyncLevel          string // one of the Sync… levels; "" when Azure does not say
	RemoteAddressSpace []string
}

// InSync reports whether the half knows the remote VNet's current address
// space (Azure reports no sync level on older API versions: in sync).
func (h *PeeringHalf) InSync() bool { return h.SyncLevel == "" || h.SyncLevel == SyncFullyInSync }

func (c *Client) networkFactory(tenant, sub string, aux ...string) (*armnetwork.ClientFactory, error) {
	cr, err := c.cred(tenant)
	if err != nil {
		return nil, err
	}
	var auxT []string
	for _, a := range aux {
		if !strings.EqualFold(a, tenant) {
			auxT = append(auxT, a)
		}
	}
	return armnetwork.NewClientFactory(sub, cr, &arm.ClientOptions{ClientOptions: c.clientOptions(), AuxiliaryTenants: auxT})
}

// GetVNet reads the VNet id as the provider app in tenant.
func (c *Client) GetVNet(ctx context.Context, tenant, id string) (*VNet, error) {
	rid, err := ParseVNetID(id)
	if err != nil {
		return nil, err
	}
	f, err := c.networkFactory(tenant, rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	resp, err := f.NewVirtualNetworksClient().Get(ctx, rid.ResourceGroup, rid.Name, nil)
	if err != nil {
		return nil, translate(err)
	}
	return vnetFrom(resp.VirtualNetwork), nil
}

func vnetFrom(v armnetwork.VirtualNetwork) *VNet {
	out := &VNet{ID: str(v.ID), Name: str(v.Name), Location: str(v.Location), Tags: map[string]string{}}
	if v.Properties != nil && v.Properties.AddressSpace != nil {
		for _, p := range v.Properties.AddressSpace.AddressPrefixes {
			out.AddressPrefixes = append(out.AddressPrefixes, str(p))
		}
	}
	for k, val := range v.Tags {
		out.Tags[k] = str(val)
	}
	return out
}

// EnsureProviderVNet creates or updates the provider VNet name with
// address space cidr in location, in the provider subscription, creating
// the provider resource group when it is missing.
func (c *Client) EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*VNet, error) {
	v, err := c.putProviderVNet(ctx, name, location, cidr, tags)
	if ErrorCode(err) != "ResourceGroupNotFound" {
		return v, err
	}
	cr, err := c.cred(c.cfg.ProviderTenantID)
	if err != nil {
		return nil, err
	}
	rgc, err := armresources.NewResourceGroupsClient(c.cfg.ProviderSubscriptionID, cr, &arm.ClientOptions{ClientOptions: c.clientOptions()})
	if err != nil {
		return nil, err
	}
	loc := c.cfg.ProviderLocation
	if loc == "" {
		loc = location
	}
	if _, err := rgc.CreateOrUpdate(ctx, c.cfg.ProviderResourceGroup, armresources.ResourceGroup{Location: to.Ptr(loc)}, nil); err != nil {
		return nil, fmt.Errorf("create provider resource group: %w", translate(err))
	}
	return c.putProviderVNet(ctx, name, location, cidr, tags)
}

func (c *Client) putProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*VNet, error) {
	f, err := c.networkFactory(c.cfg.ProviderTenantID, c.cfg.ProviderSubscriptionID)
	if err != nil {
		return nil, err
	}
	t := map[string]*string{}
	for k, v := range tags {
		t[k] = to.Ptr(v)
	}
	poller, err := f.NewVirtualNetworksClient().BeginCreateOrUpdate(ctx, c.cfg.ProviderResourceGroup, name, armnetwork.VirtualNetwork{
		Location: to.Ptr(location),
		Tags:     t,
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr(cidr)}},
		},
	}, nil)
	resp, err := finish(ctx, poller, err)
	if err != nil {
		return nil, err
	}
	return vnetFrom(resp.VirtualNetwork), nil
}

// ProviderVNetID is the resource id of the provider VNet called name.
func (c *Client) ProviderVNetID(name string) string {
	return VNetID(c.cfg.ProviderSubscriptionID, c.cfg.ProviderResourceGroup, name)
}

// DeleteProviderVNet deletes the provider VNet name; a missing one is fine.
func (c *Client) DeleteProviderVNet(ctx context.Context, name string) error {
	f, err := c.networkFactory(c.cfg.ProviderTenantID, c.cfg.ProviderSubscriptionID)
	if err != nil {
		return err
	}
	poller, err := f.NewVirtualNetworksClient().BeginDelete(ctx, c.cfg.ProviderResourceGroup, name, nil)
	if _, err = finish(ctx, poller, err); IsNotFound(err) {
		return nil
	}
	return err
}

// finish waits for the long-running operation that poller follows to end,
// unless starting it failed with err, and returns its result; errors are
// translated (IsNotFound and the codes work on them).
func finish[T any](ctx context.Context, poller *runtime.Poller[T], err error) (T, error) {
	var resp T
	if err == nil {
		resp, err = poller.PollUntilDone(ctx, nil)
	}
	return resp, translate(err)
}

// GetPeering reads the peering half name of the VNet localVNetID as the
// provider app in tenant. A missing half is (nil, nil).
func (c *Client) GetPeering(ctx context.Context, tenant, localVNetID, name string) (*PeeringHalf, error) {
	rid, err := ParseVNetID(localVNetID)
	if err != nil {
		return nil, err
	}
	f, err := c.networkFactory(tenant, rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	resp, err := f.NewVirtualNetworkPeeringsClient().Get(ctx, rid.ResourceGroup, rid.Name, name, nil)
	if err = translate(err); IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return peeringFrom(resp.VirtualNetworkPeering), nil
}

func peeringFrom(p armnetwork.VirtualNetworkPeering) *PeeringHalf {
	out := &PeeringHalf{ID: str(p.ID), Name: str(p.Name)}
	if pp := p.Properties; pp != nil {
		if pp.RemoteVirtualNetwork != nil {
			out.RemoteVNetID = str(pp.RemoteVirtualNetwork.ID)
		}
		if pp.PeeringState != nil {
			out.State = string(*pp.PeeringState)
		}
		if pp.PeeringSyncLevel != nil {
			out.SyncLevel = string(*pp.PeeringSyncLevel)
		}
		if pp.RemoteAddressSpace != nil {
			for _, a := range pp.RemoteAddressSpace.AddressPrefixes {
				out.RemoteAddressSpace = append(out.RemoteAddressSpace, str(a))
			}
		}
	}
	return out
}

// PutPeering creates or updates the half name from localVNetID (in tenant)
// to remoteVNetID (in remoteTenant), sending an auxiliary token for
// remoteTenant when it differs. syncRemote asks Azure to refresh the remote
// address space (after the remote VNet's address space changed).
func (c *Client) PutPeering(ctx context.Context, tenant, localVNetID, name, remoteTenant, remoteVNetID string, syncRemote bool) (*PeeringHalf, error) {
	rid, err := ParseVNetID(localVNetID)
	if err != nil {
		return nil, err
	}
	f, err := c.networkFactory(tenant, rid.SubscriptionID, remoteTenant)
	if err != nil {
		return nil, err
	}
	var opts *armnetwork.VirtualNetworkPeeringsClientBeginCreateOrUpdateOptions
	if syncRemote {
		opts = &armnetwork.VirtualNetworkPeeringsClientBeginCreateOrUpdateOptions{SyncRemoteAddressSpace: to.Ptr(armnetwork.SyncRemoteAddressSpaceTrue)}
	}
	poller, err := f.NewVirtualNetworkPeeringsClient().BeginCreateOrUpdate(ctx, rid.ResourceGroup, rid.Name, name, armnetwork.VirtualNetworkPeering{
		Properties: &armnetwork.VirtualNetworkPeeringPropertiesFormat{
			RemoteVirtualNetwork:      &armnetwork.SubResource{ID: to.Ptr(remoteVNetID)},
			AllowVirtualNetworkAccess: to.Ptr(true),
			AllowForwardedTraffic:     to.Ptr(false),
			AllowGatewayTransit:       to.Ptr(false),
			UseRemoteGateways:         to.Ptr(false),
		},
	}, opts)
	resp, err := finish(ctx, poller, err)
	if err != nil {
		return nil, err
	}
	return peeringFrom(resp.VirtualNetworkPeering), nil
}

// DeletePeering deletes the half name of localVNetID as the provider app
// in tenant; a missing half (or VNet) is fine.
func (c *Client) DeletePeering(ctx context.Context, tenant, localVNetID, name string) error {
	rid, err := ParseVNetID(localVNetID)
	if err != nil {
		return err
	}
	f, err := c.networkFactory(tenant, rid.SubscriptionID)
	if err != nil {
		return err
	}
	poller, err := f.NewVirtualNetworkPeeringsClient().BeginDelete(ctx, rid.ResourceGroup, rid.Name, name, nil)
	if _, err = finish(ctx, poller, err); IsNotFound(err) {
		return nil
	}
	return err
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ListPeerings lists the peering halves of the VNet localVNetID as the
// provider app in tenant.
func (c *Client) ListPeerings(ctx context.Context, tenant, localVNetID string) ([]*PeeringHalf, error) {
	rid, err := ParseVNetID(localVNetID)
	if err != nil {
		return nil, err
	}
	f, err := c.networkFactory(tenant, rid.SubscriptionID)
	if err != nil {
		return nil, err
	}
	var out []*PeeringHalf
	err = eachPage(ctx, f.NewVirtualNetworkPeeringsClient().NewListPager(rid.ResourceGroup, rid.Name, nil),
		func(page armnetwork.VirtualNetworkPeeringsClientListResponse) {
			for _, p := range page.Value {
				if p != nil {
					out = append(out, peeringFrom(*p))
				}
			}
		})
	return out, err
}

// eachPage calls each with every page of p, translating a failure.
func eachPage[T any](ctx context.Context, p *runtime.Pager[T], each func(T)) error {
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return translate(err)
		}
		each(page)
	}
	return nil
}
