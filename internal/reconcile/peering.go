package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
)

// Check is one step of the peering checklist: what was checked, whether
// it passed, what Azure said, and how to fix it.
type Check struct {
	Step      string `json:"step"`
	Title     string `json:"title"`
	Status    string `json:"status"` // PASS, FAIL, PENDING or SKIPPED
	ErrorCode string `json:"error_code,omitempty"`
	Evidence  string `json:"evidence,omitempty"`
	Fix       string `json:"fix,omitempty"`
}

// Check statuses.
const (
	CheckPass    = "PASS"
	CheckFail    = "FAIL"
	CheckPending = "PENDING" // not done yet; the reconciler does it next
	CheckSkipped = "SKIPPED" // an earlier step failed
)

// Steps, in the reconciler's order.
var peeringSteps = []struct{ step, title string }{
	{"consent", "The provider app is present in the customer tenant (admin consent)"},
	{"read_vnet", "The app can read the customer VNet"},
	{"tag", "The VNet's ConfluentEnvIDs tag lists the environment"},
	{"address_space", "The VNet's address space is private and does not overlap"},
	{"region", "The customer region is the network's region, or the pair is allowed"},
	{"provider_half", "Provider VNet → customer VNet peering"},
	{"customer_half", "Customer VNet → provider VNet peering"},
}

// Diagnosis is the checklist of a peering.
type Diagnosis struct {
	PeeringID string  `json:"peering_id"`
	Phase     string  `json:"phase"`
	Checks    []Check `json:"checks"`
	Fixes     Fixes   `json:"fixes"`
}

// run walks the steps for p in network n. With apply it creates and syncs
// the halves as the reconciler does; without, it only observes (for the
// diagnosis). It returns the checks, and the status they lead to. A
// transient error (Azure unreachable, throttled) is returned as err.
type runResult struct {
	checks []Check
	status control.PeeringStatus
	fixes  Fixes
}

func (c *Controller) run(ctx context.Context, p *control.Peering, n *control.Network, apply bool) (runResult, error) {
	az := c.cfg.Azure
	provTenant := az.ProviderTenantID()
	provVNet := n.Status.AzureVNet
	rid, _ := azure.ParseVNetID(p.VNet)
	res := runResult{fixes: fixesFor(c.cfg.LoginURL, c.cfg.AppID, p.Tenant, rid.SubscriptionID, p.VNet, p.EnvironmentID, "")}
	for _, s := range peeringSteps {
		res.checks = append(res.checks, Check{Step: s.step, Title: s.title, Status: CheckSkipped})
	}
	step := 0
	pass := func(evidence string) {
		res.checks[step].Status, res.checks[step].Evidence = CheckPass, evidence
		step++
	}
	fail := func(code, evidence, fix string) (runResult, error) {
		ch := &res.checks[step]
		ch.Status, ch.ErrorCode, ch.Evidence, ch.Fix = CheckFail, code, evidence, fix
		res.status = control.PeeringStatus{Phase: control.PhaseFailed, ErrorCode: code, ErrorMessage: evidence + " " + fix}
		return res, nil
	}
	grant := func(missing string) string {
		return fmt.Sprintf("Grant %s: create the role %q once per subscription (%s), then assign it to the app's service principal on the VNet (%s).",
			missing, PeeringCreatorRole, res.fixes.RoleDefinitionCreate, res.fixes.RoleAssignmentCreate)
	}

	// 1. A token for the customer tenant.
	if err := az.CheckTenantAccess(ctx, p.Tenant); err != nil {
		switch azure.ErrorCode(err) {
		case azure.CodeAppNotInTenant:
			return fail(control.PeeringAppNotConsented,
				fmt.Sprintf("The provider app %s has no service principal in tenant %s: no administrator of that tenant has consented to it.", c.cfg.AppID, p.Tenant),
				fmt.Sprintf("A Global Administrator of tenant %s opens %s and approves (or runs: %s).", p.Tenant, res.fixes.ConsentURL, res.fixes.CreateSPCommand))
		case azure.CodeTenantNotFound, "AADSTS90072", "AADSTS50034":
			return fail(control.PeeringAppNotConsented,
				fmt.Sprintf("Tenant %s was not found in Entra ID (%s).", p.Tenant, azure.ErrorCode(err)),
				"Check the Azure tenant ID of the peering: it is the Directory (tenant) ID on the Microsoft Entra ID overview page.")
		}
		return res, fmt.Errorf("token for tenant %s: %w", p.Tenant, err)
	}
	pass(fmt.Sprintf("The app %s got a token in tenant %s.", c.cfg.AppID, p.Tenant))

	// 2. Read the VNet.
	v, err := az.GetVNet(ctx, p.Tenant, p.VNet)
	if err != nil {
		switch code := azure.ErrorCode(err); {
		case azure.IsNotFound(err):
			return fail(control.PeeringVNetNotFound,
				fmt.Sprintf("VNet %s was not found (Azure: %s).", p.VNet, code),
				fmt.Sprintf("Check the subscription ID (%s), the resource group name (%s) and the VNet name (%s) of the peering.", rid.SubscriptionID, rid.ResourceGroup, rid.Name))
		case code == "InvalidAuthenticationTokenTenant" || code == "SubscriptionNotFound":
			return fail(control.PeeringVNetNotFound,
				fmt.Sprintf("Subscription %s does not belong to tenant %s (Azure: %s).", rid.SubscriptionID, p.Tenant, code),
				"Check that the peering's tenant ID is the tenant of the VNet's subscription.")
		case code == "AuthorizationFailed":
			return fail(control.PeeringPermissionDenied,
				fmt.Sprintf("The app cannot read VNet %s: it lacks Microsoft.Network/virtualNetworks/read there (Azure: AuthorizationFailed).", p.VNet),
				grant("Microsoft.Network/virtualNetworks/read"))
		}
		return res, fmt.Errorf("read vnet: %w", err)
	}
	tag := v.Tags[EnvTag]
	for k, val := range v.Tags {
		if strings.EqualFold(k, EnvTag) {
			tag = val
		}
	}
	res.fixes = fixesFor(c.cfg.LoginURL, c.cfg.AppID, p.Tenant, rid.SubscriptionID, p.VNet, p.EnvironmentID, tag)
	pass(fmt.Sprintf("VNet %s in %s, address space %s.", v.Name, v.Location, strings.Join(v.AddressPrefixes, ", ")))

	// 3. The tag.
	if !tagHas(tag, p.EnvironmentID) {
		have := "has no " + EnvTag + " tag"
		if tag != "" {
			have = fmt.Sprintf("has %s=%q", EnvTag, tag)
		}
		return fail(control.PeeringVNetNotAuthorizedForEnvironment,
			fmt.Sprintf("VNet %s %s, which does not list environment %s.", p.VNet, have, p.EnvironmentID),
			fmt.Sprintf("Tag the VNet with the environment ID (a comma-separated list when several environments peer with it): %s", res.fixes.TagCommand))
	}
	pass(fmt.Sprintf("%s=%q lists %s.", EnvTag, tag, p.EnvironmentID))

	// 4. The address space.
	// The other VNets peered with the network matter only when this half
	// is to be created or synced: a Connected, in-sync half passed Azure's
	// own overlap check. Listing them is the costliest read, so it is
	// skipped on the periodic re-checks of a READY peering.
	var prov *azure.PeeringHalf
	var halves []*azure.PeeringHalf
	if provVNet != "" {
		if prov, err = az.GetPeering(ctx, provTenant, provVNet, p.ID); err != nil {
			return res, fmt.Errorf("read provider half: %w", err)
		}
		if prov == nil || prov.State != "Connected" || prov.SyncLevel != "" && prov.SyncLevel != "FullyInSync" {
			if halves, err = az.ListPeerings(ctx, provTenant, provVNet); err != nil {
				return res, fmt.Errorf("list provider peerings: %w", err)
			}
		}
	}
	if code, evidence, fix := checkAddressSpace(v, n, p, halves); code != "" {
		return fail(code, evidence, fix)
	}
	pass(fmt.Sprintf("%s is private and overlaps neither %s nor the VNets already peered with %s.", strings.Join(v.AddressPrefixes, ", "), n.CIDR, n.ID))

	// 5. The region.
	if !c.cfg.Control.Settings().CrossRegionAllowed(n.Region, p.CustomerRegion) {
		return fail(control.PeeringCrossRegionNotSupported,
			fmt.Sprintf("The customer region %s differs from network %s's region %s, and cross-region peering between them is not enabled.", p.CustomerRegion, n.ID, n.Region),
			fmt.Sprintf("Peer from a VNet in %s, or contact support to enable the region pair %s/%s.", n.Region, n.Region, p.CustomerRegion))
	}
	pass(fmt.Sprintf("Customer region %s, network region %s.", p.CustomerRegion, n.Region))

	// 6. Provider → customer.
	cust, err := az.GetPeering(ctx, p.Tenant, p.VNet, p.ID)
	if azure.ErrorCode(err) == "AuthorizationFailed" {
		return fail(control.PeeringPermissionDenied,
			fmt.Sprintf("The app cannot read the peerings of VNet %s: it lacks Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read there (Azure: AuthorizationFailed).", p.VNet),
			grant("Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read"))
	} else if err != nil {
		return res, fmt.Errorf("read customer half: %w", err)
	}
	wasActive := p.Status.Phase == control.PhaseReady || p.Status.Phase == control.PhaseDisconnected
	if prov != nil && prov.State == "Disconnected" && wasActive {
		res.checks[step].Status, res.checks[step].ErrorCode = CheckFail, "DISCONNECTED"
		res.checks[step].Evidence = fmt.Sprintf("The provider half %s is Disconnected: the customer's half on VNet %s was deleted.", p.ID, p.VNet)
		res.checks[step].Fix = "Retry the peering to re-create both halves, or delete it."
		res.status = control.PeeringStatus{Phase: control.PhaseDisconnected, ErrorMessage: res.checks[step].Evidence + " " + res.checks[step].Fix}
		return res, nil
	}
	if !apply {
		return c.observeHalves(res, step, prov, cust), nil
	}
	// A Disconnected half cannot be updated: delete it, then re-create.
	if prov != nil && prov.State == "Disconnected" {
		if err := az.DeletePeering(ctx, provTenant, provVNet, p.ID); err != nil {
			return res, fmt.Errorf("delete disconnected provider half: %w", err)
		}
		prov = nil
	}
	if cust != nil && cust.State == "Disconnected" {
		err := az.DeletePeering(ctx, p.Tenant, p.VNet, p.ID)
		if azure.ErrorCode(err) == "AuthorizationFailed" {
			return c.failAt(res, 6, control.PeeringPermissionDenied,
				fmt.Sprintf("The customer half %s is Disconnected and the app cannot delete it: it lacks Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete on VNet %s.", p.ID, p.VNet),
				grant("Microsoft.Network/virtualNetworks/virtualNetworkPeerings/delete"))
		} else if err != nil {
			return res, fmt.Errorf("delete disconnected customer half: %w", err)
		}
		cust = nil
	}
	if prov == nil || prov.SyncLevel != "" && prov.SyncLevel != "FullyInSync" {
		prov, err = az.PutPeering(ctx, provTenant, provVNet, p.ID, p.Tenant, p.VNet, prov != nil)
		switch code := azure.ErrorCode(err); {
		case code == "LinkedAuthorizationFailed":
			return fail(control.PeeringPermissionDenied,
				fmt.Sprintf("Azure refused the provider → customer peering: the app lacks Microsoft.Network/virtualNetworks/peer/action on VNet %s (Azure: LinkedAuthorizationFailed: %s)", p.VNet, azureMessage(err)),
				grant("Microsoft.Network/virtualNetworks/peer/action"))
		case code == "VnetAddressSpacesOverlap" || code == "VnetAddressSpaceOverlapsWithAlreadyPeeredVnet":
			return c.failAt(res, 3, control.PeeringAddressSpaceOverlap, "Azure refused the peering: "+azureMessage(err), "Use a VNet whose address space does not overlap.")
		case err != nil:
			return res, fmt.Errorf("create provider half: %w", err)
		}
	}
	pass(fmt.Sprintf("Provider half %s: %s.", p.ID, prov.State))

	// 7. Customer → provider.
	if cust == nil || cust.SyncLevel != "" && cust.SyncLevel != "FullyInSync" {
		cust, err = az.PutPeering(ctx, p.Tenant, p.VNet, p.ID, provTenant, provVNet, cust != nil)
		switch code := azure.ErrorCode(err); {
		case code == "AuthorizationFailed":
			return fail(control.PeeringPermissionDenied,
				fmt.Sprintf("Azure refused the customer → provider peering: the app lacks Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write on VNet %s (Azure: AuthorizationFailed).", p.VNet),
				grant("Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write"))
		case code == "LinkedAuthorizationFailed":
			return fail(control.PeeringPermissionDenied, "Azure refused the customer → provider peering: "+azureMessage(err), grant("Microsoft.Network/virtualNetworks/virtualNetworkPeerings/write"))
		case err != nil:
			return res, fmt.Errorf("create customer half: %w", err)
		}
	}
	pass(fmt.Sprintf("Customer half %s: %s.", p.ID, cust.State))
	if cust.State == "Connected" {
		res.status = control.PeeringStatus{Phase: control.PhaseReady}
	} else {
		res.status = control.PeeringStatus{Phase: control.PhaseProvisioning}
	}
	return res, nil
}

// failAt marks step i (0-based) failed, clearing the passes after it.
func (c *Controller) failAt(res runResult, i int, code, evidence, fix string) (runResult, error) {
	for j := i; j < len(res.checks); j++ {
		res.checks[j].Status = CheckSkipped
	}
	ch := &res.checks[i]
	ch.Status, ch.ErrorCode, ch.Evidence, ch.Fix = CheckFail, code, evidence, fix
	res.status = control.PeeringStatus{Phase: control.PhaseFailed, ErrorCode: code, ErrorMessage: evidence + " " + fix}
	return res, nil
}

// observeHalves fills the last two checks from what exists, for a
// diagnosis that must not change anything.
func (c *Controller) observeHalves(res runResult, step int, prov, cust *azure.PeeringHalf) runResult {
	for i, h := range []*azure.PeeringHalf{prov, cust} {
		ch := &res.checks[step+i]
		switch {
		case h == nil:
			ch.Status, ch.Evidence = CheckPending, "Not created yet: the next reconcile (or a retry) creates it."
		case h.State == "Connected":
			ch.Status, ch.Evidence = CheckPass, fmt.Sprintf("%s: Connected, %s.", h.Name, h.SyncLevel)
		default:
			ch.Status, ch.Evidence = CheckPending, fmt.Sprintf("%s: %s.", h.Name, h.State)
		}
	}
	return res
}

func azureMessage(err error) string {
	if ae, ok := err.(*azure.Error); ok {
		return ae.Message
	}
	return err.Error()
}

var (
	privateRanges = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
	}
)

// checkAddressSpace applies the address rules: every prefix inside RFC
// 1918 or RFC 6598, none overlapping the network's CIDR or the address
// space of another VNet peered with the network.
func checkAddressSpace(v *azure.VNet, n *control.Network, p *control.Peering, halves []*azure.PeeringHalf) (code, evidence, fix string) {
	netCIDR, _ := netip.ParsePrefix(n.CIDR)
	for _, s := range v.AddressPrefixes {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return control.PeeringInvalidAddressSpace, fmt.Sprintf("VNet %s has an address prefix %q that is not a CIDR.", p.VNet, s), "Fix the VNet's address space."
		}
		private := false
		for _, r := range privateRanges {
			if r.Bits() <= pfx.Bits() && r.Contains(pfx.Addr()) {
				private = true
			}
		}
		if !private {
			return control.PeeringInvalidAddressSpace,
				fmt.Sprintf("Address prefix %s of VNet %s is outside RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) and RFC 6598 (100.64.0.0/10).", s, p.VNet),
				"Peering needs private address space: remove that prefix from the VNet, or peer another VNet."
		}
		if netCIDR.IsValid() && netCIDR.Overlaps(pfx) {
			return control.PeeringAddressSpaceOverlap,
				fmt.Sprintf("Address prefix %s of VNet %s overlaps network %s's CIDR %s.", s, p.VNet, n.ID, n.CIDR),
				"Peer a VNet whose address space does not overlap the network's CIDR, or create a network with another CIDR."
		}
		for _, h := range halves {
			if strings.EqualFold(h.Name, p.ID) || strings.EqualFold(h.RemoteVNetID, p.VNet) {
				continue
			}
			for _, o := range h.RemoteAddressSpace {
				op, err := netip.ParsePrefix(o)
				if err == nil && op.Overlaps(pfx) {
					return control.PeeringAddressSpaceOverlap,
						fmt.Sprintf("Address prefix %s of VNet %s overlaps %s of VNet %s, already peered with network %s (peering %s).", s, p.VNet, o, h.RemoteVNetID, n.ID, h.Name),
						"Each VNet peered with a network needs its own address space: peer a VNet that does not overlap."
				}
			}
		}
	}
	return "", "", ""
}

func (c *Controller) reconcilePeering(ctx context.Context, id string) (Result, error) {
	p, err := c.cfg.Control.ReconcilePeering(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	log := c.log.With("peering", id)
	n, err := c.cfg.Control.ReconcileNetwork(ctx, p.NetworkID)
	if err != nil {
		return Result{}, err
	}
	if p.Status.Phase == control.PhaseDeprovisioning {
		return Result{}, c.deletePeering(ctx, p, n)
	}
	if n.Status.Phase != control.PhaseReady || n.Status.AzureVNet == "" {
		c.q.Add(networkKey(n.ID))
		return Result{RequeueAfter: 2 * time.Second}, nil
	}
	res, err := c.run(ctx, p, n, true)
	if err != nil {
		return Result{}, err
	}
	if _, err := c.cfg.Control.UpdatePeeringStatusFrom(ctx, id, p.Status, res.status); control.ErrorCode(err) == control.ECONFLICT {
		// Retried (or changed) meanwhile: decide again from the new status.
		c.q.Add(peeringKey(id))
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	if res.status.Phase != p.Status.Phase || res.status.ErrorCode != p.Status.ErrorCode {
		log.Info("peering phase", "phase", res.status.Phase, "error_code", res.status.ErrorCode)
	}
	switch res.status.Phase {
	case control.PhaseFailed:
		return Result{}, &failed{code: res.status.ErrorCode}
	case control.PhaseProvisioning:
		return Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	return Result{RequeueAfter: c.cfg.Resync}, nil
}

// deletePeering removes both halves, then the row. The customer half is
// removed first while the provider half still proves the peering is ours;
// if the app has lost access to the customer VNet, the customer keeps a
// Disconnected half of their own, which we cannot remove.
func (c *Controller) deletePeering(ctx context.Context, p *control.Peering, n *control.Network) error {
	az := c.cfg.Azure
	err := az.DeletePeering(ctx, p.Tenant, p.VNet, p.ID)
	switch code := azure.ErrorCode(err); {
	case err == nil:
	case code == "AuthorizationFailed" || code == azure.CodeAppNotInTenant || code == "InvalidAuthenticationTokenTenant" || code == azure.CodeTenantNotFound:
		c.log.Warn("cannot delete the customer half; leaving it to the customer", "peering", p.ID, "code", code)
	default:
		return fmt.Errorf("delete customer half: %w", err)
	}
	if n.Status.AzureVNet != "" {
		if err := az.DeletePeering(ctx, az.ProviderTenantID(), n.Status.AzureVNet, p.ID); err != nil {
			return fmt.Errorf("delete provider half: %w", err)
		}
	}
	if err := c.cfg.Control.PurgePeering(ctx, p.ID); err != nil && control.ErrorCode(err) != control.ENOTFOUND {
		return err
	}
	c.log.Info("peering deleted", "peering", p.ID)
	return nil
}

// Diagnose returns the checklist of peering id without changing anything.
func (c *Controller) Diagnose(ctx context.Context, p *control.Peering) (*Diagnosis, error) {
	n, err := c.cfg.Control.ReconcileNetwork(ctx, p.NetworkID)
	if err != nil {
		return nil, err
	}
	d := &Diagnosis{PeeringID: p.ID, Phase: p.Status.Phase}
	if n.Status.Phase != control.PhaseReady {
		rid, _ := azure.ParseVNetID(p.VNet)
		d.Fixes = fixesFor(c.cfg.LoginURL, c.cfg.AppID, p.Tenant, rid.SubscriptionID, p.VNet, p.EnvironmentID, "")
		for _, s := range peeringSteps {
			d.Checks = append(d.Checks, Check{Step: s.step, Title: s.title, Status: CheckPending, Evidence: "Network " + n.ID + " is " + n.Status.Phase + "."})
		}
		return d, nil
	}
	res, err := c.run(ctx, p, n, false)
	if err != nil {
		return nil, err
	}
	d.Checks, d.Fixes = res.checks, res.fixes
	return d, nil
}
