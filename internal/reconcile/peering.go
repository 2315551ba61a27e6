package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
)

// reconcilePeering drives one peering toward READY: it walks the
// checklist's steps, each of which reads Azure and changes only what
// differs, then writes the status with the checklist — unless the peering
// changed meanwhile (a retry), or nothing did.
func (c *Controller) reconcilePeering(ctx context.Context, id string) (Result, error) {
	p, err := c.cfg.Control.ReconcilePeering(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	n, err := c.cfg.Control.ReconcileNetwork(ctx, p.NetworkID)
	if err != nil {
		return Result{}, err
	}
	if p.Status.Phase == control.PhaseDeprovisioning {
		return Result{}, c.deletePeering(ctx, p, n)
	}
	if n.Status.Phase != control.PhaseReady || n.Status.AzureVNet == "" {
		c.q.Add(networkKey(n.ID)) // it enqueues its peerings once READY
		return Result{RequeueAfter: 2 * time.Second}, c.awaitNetwork(ctx, p, n)
	}
	list, err := c.newPass(p, n).run(ctx)
	if err != nil {
		return Result{}, err
	}
	status := control.PeeringStatusOf(list)
	if status.Equal(p.Status) {
		// Nothing to write: no store transaction either (the conditional
		// write would find the same and write nothing).
	} else if _, err := c.cfg.Control.UpdatePeeringStatusFrom(ctx, id, p.Status, status); control.ErrorCode(err) == control.ECONFLICT {
		// Retried (or changed) meanwhile: decide again from the new status.
		c.q.Add(peeringKey(id))
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	if status.Phase != p.Status.Phase || status.ErrorCode != p.Status.ErrorCode {
		c.log.Info("peering phase", "peering", id, "phase", status.Phase, "error_code", status.ErrorCode)
	}
	switch status.Phase {
	case control.PhaseFailed:
		return Result{}, &failed{code: status.ErrorCode}
	case control.PhaseProvisioning:
		return Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	return c.resync(c.cfg.Resync), nil
}

// awaitNetwork gives a peering never checked, whose network is not READY
// yet, a checklist of pending steps with the grant commands: worth showing
// meanwhile.
func (c *Controller) awaitNetwork(ctx context.Context, p *control.Peering, n *control.Network) error {
	if !p.Status.Checklist.IsZero() {
		return nil
	}
	status := p.Status
	status.Checklist = control.Checklist{CheckedAt: c.cfg.Now(), Fixes: control.NewGrantFixes(c.cfg.App, p)}
	for _, step := range control.PeeringSteps {
		status.Checklist.Checks = append(status.Checklist.Checks, control.PendingCheck(step,
			fmt.Sprintf("Network %s is %s: the peering is checked once the network is READY.", n.ID, n.Status.Phase)))
	}
	if _, err := c.cfg.Control.UpdatePeeringStatusFrom(ctx, p.ID, p.Status, status); err != nil && control.ErrorCode(err) != control.ECONFLICT {
		return err
	}
	return nil
}

// CheckConsent checks the consent step of peering p alone: one token
// request for p's tenant as the provider app. It returns the step's check
// (PASS, or FAIL with APP_NOT_CONSENTED or TENANT_NOT_FOUND), or an error
// when Azure did not answer. It changes nothing.
func (c *Controller) CheckConsent(ctx context.Context, p *control.Peering) (control.Check, error) {
	return c.newPass(p, nil).checkConsent(ctx)
}

// peeringPass is one pass over a peering's checklist: the peering and its
// network as read at the start, and what Azure has said so far.
type peeringPass struct {
	az       Azure
	app      control.ProviderApp
	provider control.ProviderAccount
	settings control.Settings
	now      time.Time
	p        *control.Peering
	n        *control.Network
	fixes    control.GrantFixes // pre-filled; the tag command once the VNet is read
	vnet     *azure.VNet        // after readVNet
	tag      string             // the VNet's ConfluentEnvIDs value, after readVNet
	prov     *azure.PeeringHalf // the provider half, after checkAddressSpace; nil if none
	halves   *halfCache         // the controller's lists of provider halves; nil reads Azure
}

func (c *Controller) newPass(p *control.Peering, n *control.Network) *peeringPass {
	r := newPeeringPass(c.cfg.Azure, c.cfg.App, c.cfg.Control.Settings(), c.cfg.Now(), p, n)
	r.provider = c.cfg.Provider
	r.halves = c.halves
	return r
}

func newPeeringPass(az Azure, app control.ProviderApp, settings control.Settings, now time.Time, p *control.Peering, n *control.Network) *peeringPass {
	return &peeringPass{az: az, app: app, settings: settings, now: now, p: p, n: n, fixes: control.NewGrantFixes(app, p)}
}

// passStep is one step of the checklist and the function that takes it.
type passStep struct {
	name string
	run  func(context.Context) (control.Check, error)
}

// steps are the checklist's steps, in order, each a function of r.
func (r *peeringPass) steps() []passStep {
	return []passStep{
		{control.StepConsent, r.checkConsent},
		{control.StepReadVNet, r.readVNet},
		{control.StepTag, r.checkTag},
		{control.StepAddressSpace, r.checkAddressSpace},
		{control.StepRegion, r.checkRegion},
		{control.StepProviderHalf, r.ensureProviderHalf},
		{control.StepCustomerHalf, r.ensureCustomerHalf},
	}
}

// run walks the steps in order up to the first that does not pass, and
// returns the checklist, the steps after that one SKIPPED. An error is a
// transient failure to ask Azure: nothing is concluded from it.
func (r *peeringPass) run(ctx context.Context) (control.Checklist, error) {
	list := control.Checklist{CheckedAt: r.now}
	blocked := false
	for _, s := range r.steps() {
		if blocked {
			list.Checks = append(list.Checks, control.SkippedCheck(s.name))
			continue
		}
		ch, err := s.run(ctx)
		if err != nil {
			return control.Checklist{}, fmt.Errorf("%s: %w", s.name, err)
		}
		list.Checks = append(list.Checks, ch)
		blocked = ch.Status != control.CheckPass
	}
	list.Fixes = r.fixes
	return list, nil
}

// checkConsent gets a token for the customer tenant as the provider app,
// unless the peering names the provider's own tenant or subscription
// (refused at create; a peering stored before that rule, or an operator's
// change of provider, is refused here, before the app reads anything).
func (r *peeringPass) checkConsent(ctx context.Context) (control.Check, error) {
	p := r.p
	if err := r.provider.CheckCustomerVNet(p.Tenant, p.VNet); err != nil {
		return control.FailCheck(control.StepConsent, control.PeeringProviderVNet, control.ErrorMessage(err),
			"A peering's tenant and VNet cannot change: delete this peering and create one that names your own tenant and VNet."), nil
	}
	err := r.az.CheckTenantAccess(ctx, p.Tenant)
	switch azure.ErrorCode(err) {
	case azure.CodeAppNotInTenant:
		return control.FailCheck(control.StepConsent, control.PeeringAppNotConsented,
			fmt.Sprintf("The provider app %s has no service principal in tenant %s: no administrator has consented to it. "+
				"A Global Administrator of the tenant must approve it at %s.", r.app.AppID, p.Tenant, r.fixes.ConsentURL),
			fmt.Sprintf("A Global Administrator of tenant %s opens %s and accepts. Or, signed in to the tenant as that administrator:\n%s",
				p.Tenant, r.fixes.ConsentURL, r.fixes.CreateServicePrincipal)), nil
	case azure.CodeTenantNotFound:
		return control.FailCheck(control.StepConsent, control.PeeringTenantNotFound,
			fmt.Sprintf("Tenant %s does not exist in Entra ID (%s). "+
				"The peering's Azure tenant ID must be the Directory (tenant) ID of the VNet's tenant.", p.Tenant, azure.CodeTenantNotFound),
			fmt.Sprintf("A peering's tenant cannot change: delete this peering and create it again with the tenant ID shown on the Microsoft Entra ID overview page, or printed by:\n"+
				"az account show --subscription %s --query tenantId --output tsv", control.VNetSubscription(p.VNet))), nil
	}
	if err != nil {
		return control.Check{}, fmt.Errorf("token for tenant %s: %w", p.Tenant, err)
	}
	return control.PassCheck(control.StepConsent, fmt.Sprintf("The app %s got a token in tenant %s.", r.app.AppID, p.Tenant)), nil
}

// readVNet reads the customer VNet as the provider app.
func (r *peeringPass) readVNet(ctx context.Context) (control.Check, error) {
	p := r.p
	vnet, sub := control.VNetRef(p.VNet), control.VNetSubscription(p.VNet)
	const wrongVNet = "A peering's VNet cannot change: if its names are wrong, delete this peering and create it again with the right ones."
	recreate := wrongVNet + " The VNets of the subscription:\n" +
		fmt.Sprintf(`az network vnet list --subscription %s --query "[].id" --output tsv`, sub)
	v, err := r.az.GetVNet(ctx, p.Tenant, p.VNet)
	switch code := azure.ErrorCode(err); {
	case err == nil:
	case code == azure.CodeSubscriptionNotFound:
		return control.FailCheck(control.StepReadVNet, control.PeeringVNetNotFound,
			fmt.Sprintf("Subscription %s of the peering's VNet (%s) does not exist (Azure: %s).", sub, vnetName(p.VNet), code), recreate), nil
	case code == azure.CodeInvalidAuthenticationTokenTenant:
		return control.FailCheck(control.StepReadVNet, control.PeeringVNetNotFound,
			fmt.Sprintf("Subscription %s of the peering's VNet (%s) is not in tenant %s (Azure: %s).", sub, vnetName(p.VNet), p.Tenant, code),
			"The peering's tenant must be the tenant of the VNet's subscription. "+recreate), nil
	case azure.IsNotFound(err):
		return control.FailCheck(control.StepReadVNet, control.PeeringVNetNotFound,
			fmt.Sprintf("VNet %s does not exist (Azure: %s). Check the resource group and VNet names of the peering.", vnet, code), recreate), nil
	case code == azure.CodeAuthorizationFailed:
		return control.FailCheck(control.StepReadVNet, control.PeeringPermissionDenied,
			fmt.Sprintf("Either VNet %s does not exist, or %s lacks %s on it (Azure: %s). "+
				"Check the VNet's names, and that the role %q is assigned to the app on the VNet.",
				vnet, principal(err, p.Tenant), control.ActionVNetRead, code, control.PeeringCreatorRole),
			fmt.Sprintf("Azure answers %s both for a VNet that does not exist and for one the app may not read.\n"+
				"First check the names, signed in to tenant %s (ResourceNotFound means the peering names the wrong VNet):\n"+
				"az network vnet show --ids %q --query id --output tsv\n%s\n"+
				"If the VNet exists, grant the app access to it. ", code, p.Tenant, p.VNet, wrongVNet)+
				r.fixes.RoleFix(control.ActionVNetRead)), nil
	default:
		return control.Check{}, fmt.Errorf("read vnet: %w", err)
	}
	r.vnet = v
	for k, val := range v.Tags {
		if strings.EqualFold(k, control.EnvTag) {
			r.tag = val
		}
	}
	// Nothing of the VNet is told yet (its region, address space, the
	// environments its tag lists): until the tag check passes, the VNet's
	// owner has not said this environment may see it.
	return control.PassCheck(control.StepReadVNet, fmt.Sprintf("The app can read VNet %s.", vnet)), nil
}

// checkTag checks that the VNet's ConfluentEnvIDs tag lists the
// environment: the customer's word that this environment may peer with it.
func (r *peeringPass) checkTag(ctx context.Context) (control.Check, error) {
	p := r.p
	if !control.TagHas(r.tag, p.EnvironmentID) {
		// Whether the tag is missing or lists others is the VNet owner's
		// business: the environments it lists are other customers'.
		return control.FailCheck(control.StepTag, control.PeeringVNetNotAuthorizedForEnvironment,
			fmt.Sprintf("The %s tag of VNet %s does not list environment %s. Only the environments that tag lists may peer with the VNet.",
				control.EnvTag, control.VNetRef(p.VNet), p.EnvironmentID),
			"Add the environment to the tag (a comma-separated list when several environments peer with the VNet):\n"+r.fixes.Tag), nil
	}
	return control.PassCheck(control.StepTag, fmt.Sprintf("The %s tag lists %s: VNet %s is in %s, with address space %s.",
		control.EnvTag, p.EnvironmentID, control.VNetRef(p.VNet), r.vnet.Location, strings.Join(r.vnet.AddressPrefixes, ", "))), nil
}

// checkAddressSpace checks the VNet's prefixes against the network's CIDR
// and the VNets already peered with the network. Those are read from the
// provider VNet's halves, the costliest read, and only when this half is
// to be created or synced: a Connected, in-sync half passed Azure's own
// overlap check, so the periodic re-checks of a READY peering read their
// own half alone. The list comes from the controller's halfCache, so that
// a burst of new peerings on one network reads it a few times, not once
// each; the peering's own half is always read from Azure.
func (r *peeringPass) checkAddressSpace(ctx context.Context) (control.Check, error) {
	provTenant, provVNet := r.az.ProviderTenantID(), r.n.Status.AzureVNet
	prov, err := r.az.GetPeering(ctx, provTenant, provVNet, r.p.ID)
	if err != nil {
		return control.Check{}, fmt.Errorf("read provider half: %w", err)
	}
	r.prov = prov
	peered := map[string][]string{}
	if prov == nil || prov.State != azure.PeeringConnected || !prov.InSync() {
		halves, err := r.providerHalves(ctx, provTenant, provVNet)
		if err != nil {
			return control.Check{}, fmt.Errorf("list provider peerings: %w", err)
		}
		for _, h := range halves {
			if !strings.EqualFold(h.Name, r.p.ID) && !strings.EqualFold(h.RemoteVNetID, r.p.VNet) {
				peered[h.RemoteVNetID] = append(peered[h.RemoteVNetID], h.RemoteAddressSpace...)
			}
		}
	}
	return control.CheckVNetAddressSpace(r.p, r.n, r.vnet.AddressPrefixes, peered), nil
}

// providerHalves lists the halves of the provider VNet vnet, through the
// controller's cache when the pass has one.
func (r *peeringPass) providerHalves(ctx context.Context, tenant, vnet string) ([]*azure.PeeringHalf, error) {
	if r.halves == nil {
		return r.az.ListPeerings(ctx, tenant, vnet)
	}
	return r.halves.list(ctx, tenant, vnet)
}

// checkRegion checks the customer region against the network's and the
// operator's allowed pairs.
func (r *peeringPass) checkRegion(ctx context.Context) (control.Check, error) {
	p, n := r.p, r.n
	if !r.settings.CrossRegionAllowed(n.Region, p.CustomerRegion) {
		fix := fmt.Sprintf("Peer from a VNet in %s, or contact support to enable the region pair %s/%s.", n.Region, n.Region, p.CustomerRegion)
		return control.FailCheck(control.StepRegion, control.PeeringCrossRegionNotSupported,
			fmt.Sprintf("The customer region %s differs from network %s's region %s, and cross-region peering between them is not enabled. %s",
				p.CustomerRegion, n.ID, n.Region, fix), fix), nil
	}
	return control.PassCheck(control.StepRegion, fmt.Sprintf("Customer region %s, network region %s.", p.CustomerRegion, n.Region)), nil
}

// wasActive reports whether the peering had been Connected: a Disconnected
// provider half then means the customer deleted theirs.
func wasActive(p *control.Peering) bool {
	return p.Status.Phase == control.PhaseReady || p.Status.Phase == control.PhaseDisconnected
}

// ensureProviderHalf creates the provider VNet's half, or syncs it when
// the customer's address space changed. Creating it needs
// virtualNetworks/peer/action on the customer VNet, checked by Azure with
// an auxiliary token for the customer tenant.
func (r *peeringPass) ensureProviderHalf(ctx context.Context) (control.Check, error) {
	p, prov := r.p, r.prov
	provTenant, provVNet := r.az.ProviderTenantID(), r.n.Status.AzureVNet
	if prov != nil && prov.State == azure.PeeringDisconnected {
		if wasActive(p) {
			return control.FailCheck(control.StepProviderHalf, control.PeeringDisconnected,
				fmt.Sprintf("The provider half %s is Disconnected: the customer's half on VNet %s was deleted.", p.ID, control.VNetRef(p.VNet)),
				"Retry the peering to re-create both halves, or delete it."), nil
		}
		// Retried: a Disconnected half cannot be updated, so it goes.
		if err := r.az.DeletePeering(ctx, provTenant, provVNet, p.ID); err != nil {
			return control.Check{}, fmt.Errorf("delete disconnected provider half: %w", err)
		}
		r.halves.remove(provVNet, p.ID)
		prov = nil
	}
	if prov == nil || !prov.InSync() {
		var err error
		prov, err = r.az.PutPeering(ctx, provTenant, provVNet, p.ID, p.Tenant, p.VNet, prov != nil)
		switch code := azure.ErrorCode(err); {
		case code == azure.CodeLinkedAuthorizationFailed:
			return control.FailCheck(control.StepProviderHalf, control.PeeringPermissionDenied,
				fmt.Sprintf("Azure refused the provider → customer peering: the app's service principal in tenant %s lacks %s on VNet %s (Azure: %s).",
					p.Tenant, control.ActionPeer, control.VNetRef(p.VNet), code),
				r.fixes.RoleFix(control.ActionPeer)), nil
		case isOverlap(code):
			return r.overlapCheck(control.StepProviderHalf, err), nil
		case err != nil:
			return control.Check{}, fmt.Errorf("create provider half: %w", err)
		}
		r.halves.put(provVNet, prov)
	}
	r.prov = prov
	// Not its state: Initiated now, it turns Connected with the customer
	// half, and a READY peering's checklist must not change on the next
	// pass for that alone. The customer half's check tells Connected.
	return control.PassCheck(control.StepProviderHalf, fmt.Sprintf("Half %s of the provider VNet peers it with VNet %s.", prov.Name, control.VNetRef(p.VNet))), nil
}

// ensureCustomerHalf creates the customer VNet's half, syncs it, or
// re-creates it after a disconnection.
func (r *peeringPass) ensureCustomerHalf(ctx context.Context) (control.Check, error) {
	p := r.p
	provTenant, provVNet := r.az.ProviderTenantID(), r.n.Status.AzureVNet
	vnet := control.VNetRef(p.VNet)
	denied := func(err error, action, what string) control.Check {
		return control.FailCheck(control.StepCustomerHalf, control.PeeringPermissionDenied,
			fmt.Sprintf("%s: %s lacks %s on VNet %s (Azure: %s).", what, principal(err, p.Tenant), action, vnet, azure.ErrorCode(err)),
			r.fixes.RoleFix(action))
	}
	cust, err := r.az.GetPeering(ctx, p.Tenant, p.VNet, p.ID)
	if azure.ErrorCode(err) == azure.CodeAuthorizationFailed {
		return denied(err, control.ActionPeeringRead, "The app cannot read the VNet's peerings"), nil
	} else if err != nil {
		return control.Check{}, fmt.Errorf("read customer half: %w", err)
	}
	if cust != nil && cust.State == azure.PeeringDisconnected {
		err := r.az.DeletePeering(ctx, p.Tenant, p.VNet, p.ID)
		if azure.ErrorCode(err) == azure.CodeAuthorizationFailed {
			return denied(err, control.ActionPeeringDelete, "The app cannot delete the Disconnected customer half "+p.ID+" to re-create it"), nil
		} else if err != nil {
			return control.Check{}, fmt.Errorf("delete disconnected customer half: %w", err)
		}
		cust = nil
	}
	if cust == nil || !cust.InSync() {
		cust, err = r.az.PutPeering(ctx, p.Tenant, p.VNet, p.ID, provTenant, provVNet, cust != nil)
		switch code := azure.ErrorCode(err); {
		case code == azure.CodeAuthorizationFailed:
			return denied(err, control.ActionPeeringWrite, "Azure refused the customer → provider peering"), nil
		case code == azure.CodeLinkedAuthorizationFailed:
			return control.FailCheck(control.StepCustomerHalf, control.PeeringPermissionDenied,
				fmt.Sprintf("Azure refused the customer → provider peering: the provider app lacks %s on its own VNet %s (Azure: %s). The provider must fix this: contact support.",
					control.ActionPeer, provVNet, code),
				"Contact support: the provider app needs "+control.ActionPeer+" on the provider's VNets."), nil
		case isOverlap(code):
			return r.overlapCheck(control.StepCustomerHalf, err), nil
		case err != nil:
			return control.Check{}, fmt.Errorf("create customer half: %w", err)
		}
	}
	if cust.State != azure.PeeringConnected {
		return control.PendingCheck(control.StepCustomerHalf, fmt.Sprintf("Half %s of VNet %s is %s; it connects once both halves exist.", cust.Name, vnet, cust.State)), nil
	}
	return control.PassCheck(control.StepCustomerHalf, fmt.Sprintf("Half %s of VNet %s peers it with the provider VNet: both halves are Connected.", cust.Name, vnet)), nil
}

// vnetName is "resource group/name" of a VNet resource id.
func vnetName(id string) string {
	rid, err := azure.ParseVNetID(id)
	if err != nil {
		return id
	}
	return rid.ResourceGroup + "/" + rid.Name
}

func isOverlap(code string) bool {
	return code == azure.CodeVnetAddressSpacesOverlap || code == azure.CodeVnetAddressSpaceOverlapsPeered
}

// overlapCheck is a half Azure refused for overlapping address spaces: the
// address-space step passed on what the provider sees, but a VNet peered
// with the customer's overlaps too.
func (r *peeringPass) overlapCheck(step string, err error) control.Check {
	return control.FailCheck(step, control.PeeringAddressSpaceOverlap,
		fmt.Sprintf("Azure refused to peer VNet %s with network %s: an address space overlaps that of a VNet already peered with one of them (Azure: %s).",
			control.VNetRef(r.p.VNet), r.n.ID, azure.ErrorCode(err)),
		"Azure says: "+azureMessage(err)+"\nPeer a VNet whose address space overlaps neither the network's CIDR "+r.n.CIDR+" nor the VNets peered with the network or with your VNet.")
}

// principal names the app's service principal in tenant, by the object id
// Azure's error gives when it does.
func principal(err error, tenant string) string {
	if oid := azure.PrincipalID(err); oid != "" {
		return "the app's service principal " + oid + " in tenant " + tenant
	}
	return "the app's service principal in tenant " + tenant
}

func azureMessage(err error) string {
	var ae *azure.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

// deletePeering removes both halves, then the row. The customer half is
// removed first while the provider half still proves the peering is ours;
// if the app has lost access to the customer VNet, the customer keeps a
// Disconnected half of their own, which we cannot remove.
func (c *Controller) deletePeering(ctx context.Context, p *control.Peering, n *control.Network) error {
	az := c.cfg.Azure
	err := az.DeletePeering(ctx, p.Tenant, p.VNet, p.ID)
	switch code := azure.ErrorCode(err); code {
	case azure.CodeAuthorizationFailed, azure.CodeAppNotInTenant, azure.CodeInvalidAuthenticationTokenTenant, azure.CodeTenantNotFound:
		c.log.Warn("cannot delete the customer half; leaving it to the customer", "peering", p.ID, "code", code)
	default:
		if err != nil {
			return fmt.Errorf("delete customer half: %w", err)
		}
	}
	if n.Status.AzureVNet != "" {
		if err := az.DeletePeering(ctx, az.ProviderTenantID(), n.Status.AzureVNet, p.ID); err != nil {
			return fmt.Errorf("delete provider half: %w", err)
		}
		c.halves.remove(n.Status.AzureVNet, p.ID)
	}
	if err := c.cfg.Control.PurgePeering(ctx, p.ID); err != nil && control.ErrorCode(err) != control.ENOTFOUND {
		return err
	}
	c.log.Info("peering deleted", "peering", p.ID)
	return nil
}
