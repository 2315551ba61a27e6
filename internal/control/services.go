package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Service implements every service interface over a Store, enforcing
// Settings inside Store.Update transactions.
type Service struct {
	store Store
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// OnChange, when set, is called after a committed change that the
	// reconciler must act on (an environment deleted, a network, peering
	// or cluster created or deleted), or the connector runtime (a
	// connector created, changed, paused, resumed or deleted). It must not
	// block.
	OnChange func(ObjectKey)
	// Provider is the provider's tenant and subscription, which no peering
	// may name (ProviderAccount.CheckCustomerVNet). Set it before serving;
	// the zero value checks nothing.
	Provider ProviderAccount
	// NewID draws the id of a new object; control.NewID by default. A
	// drawn id already taken is drawn again (see freshID).
	NewID func(prefix string) string

	mu       sync.RWMutex
	settings Settings

	auth authCache // API keys verified recently
}

var (
	_ EnvironmentService = (*Service)(nil)
	_ NetworkService     = (*Service)(nil)
	_ PeeringService     = (*Service)(nil)
	_ ClusterService     = (*Service)(nil)
	_ OrgService         = (*Service)(nil)
)

// NewService returns a Service over store with a copy of settings.
func NewService(store Store, settings Settings) *Service {
	return &Service{store: store, Now: time.Now, settings: settings.Clone()}
}

// Settings returns a copy of the current settings: the caller may change
// or decode into it without changing the live ones.
func (s *Service) Settings() Settings { return s.current().Clone() }

// current returns the live settings without copying them. The live value is
// never changed in place (SetSettings and LoadSettings swap in a fresh
// copy), so callers may read it freely but must not write to its slices.
func (s *Service) current() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.settings
}

// SetSettings validates a copy of settings, stores it and makes it current:
// the caller keeps settings to itself. Returns EINVALID for settings that
// cannot work (Settings.Validate), and then nothing changes. Quotas apply to
// later changes only.
func (s *Service) SetSettings(ctx context.Context, settings Settings) error {
	settings = settings.Clone()
	if err := settings.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(settings)
	if err != nil {
		return err
	}
	if err := s.store.Update(ctx, func(tx Tx) error { return tx.SaveSettings(ctx, body) }); err != nil {
		return err
	}
	s.swap(settings)
	return nil
}

// LoadSettings makes the stored settings current, decoded over a copy of the
// current ones for fields they lack. With none stored, the current settings
// stay; a stored document that does not decode or validate is an error and
// changes nothing.
func (s *Service) LoadSettings(ctx context.Context) error {
	var body []byte
	if err := s.store.View(ctx, func(tx Tx) error {
		var err error
		body, err = tx.LoadSettings(ctx)
		return err
	}); err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	settings := s.Settings()
	if err := json.Unmarshal(body, &settings); err != nil {
		return fmt.Errorf("decode stored settings: %w", err)
	}
	if err := settings.Validate(); err != nil {
		return fmt.Errorf("stored settings: %w", err)
	}
	s.swap(settings)
	return nil
}

// swap makes settings, a copy no one else holds, the live settings.
func (s *Service) swap(settings Settings) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settings = settings
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func (s *Service) changed(key ObjectKey) {
	if s.OnChange != nil {
		s.OnChange(key)
	}
}

// notFoundAs rewrites ENOTFOUND from a lookup of a referenced object so it
// names the request field that referred to it.
func notFoundAs(err error, field, format string, args ...any) error {
	if ErrorCode(err) == ENOTFOUND {
		return FieldErrorf(ENOTFOUND, field, format, args...)
	}
	return err
}

// --- environments ---

// liveEnvironment reads environment id of organization orgID (inside
// Update, locking it). Returns ENOTFOUND if it does not exist, belongs to
// another organization or is being deleted: to its organization a deleted
// environment is gone at once.
func liveEnvironment(ctx context.Context, tx Tx, orgID, id string) (*Environment, error) {
	env, err := tx.FindEnvironmentByID(ctx, OrgScope(orgID), id)
	if err != nil {
		return nil, err
	}
	if env.Deleting {
		return nil, Errorf(ENOTFOUND, "Environment %s was not found.", id)
	}
	return env, nil
}

// notDeleting selects the environments not being deleted.
func notDeleting() *bool {
	b := false
	return &b
}

// FindEnvironmentByID implements EnvironmentService.
func (s *Service) FindEnvironmentByID(ctx context.Context, id string) (*Environment, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	var env *Environment
	err = s.store.View(ctx, func(tx Tx) error {
		env, err = liveEnvironment(ctx, tx, org.ID, id)
		return err
	})
	return env, err
}

// FindEnvironments implements EnvironmentService.
func (s *Service) FindEnvironments(ctx context.Context, page Page) ([]*Environment, string, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	after, size, err := pageBounds(page, MaxEnvironmentPageSize)
	if err != nil {
		return nil, "", err
	}
	var envs []*Environment
	err = s.store.View(ctx, func(tx Tx) error {
		envs, err = tx.FindEnvironments(ctx, OrgScope(org.ID), EnvironmentFilter{Deleting: notDeleting(), After: after, Limit: size + 1})
		return err
	})
	if err != nil {
		return nil, "", err
	}
	envs, next := paginate(envs, size, func(e *Environment) string { return e.ID })
	return envs, next, nil
}

func validateEnvironment(env *Environment) error {
	if strings.TrimSpace(env.DisplayName) == "" {
		return FieldErrorf(EINVALID, "/display_name", "Display name is required.")
	}
	if err := ValidateDisplayName("/display_name", env.DisplayName); err != nil {
		return err
	}
	switch env.StreamGovernancePackage {
	case "", "ESSENTIALS", "ADVANCED":
	default:
		return FieldErrorf(EINVALID, "/stream_governance_config/package", "Stream Governance package %q is not supported; use ESSENTIALS or ADVANCED.", env.StreamGovernancePackage)
	}
	return nil
}

// CreateEnvironment implements EnvironmentService.
func (s *Service) CreateEnvironment(ctx context.Context, env *Environment) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	if err := validateEnvironment(env); err != nil {
		return err
	}
	settings := s.current()
	env.OrgID = org.ID
	env.CreatedAt = s.now()
	env.UpdatedAt = env.CreatedAt
	return s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.FindOrganizationByID(ctx, org.ID); err != nil { // locks the organization
			return err
		}
		// Environments being deleted do not count: to their organization
		// they are gone.
		envs, err := tx.FindEnvironments(ctx, OrgScope(org.ID), EnvironmentFilter{Deleting: notDeleting()})
		if err != nil {
			return err
		}
		if err := settings.CheckEnvironmentQuota(len(envs)); err != nil {
			return err
		}
		if env.ID, err = freshID(ctx, s, PrefixEnvironment, tx.FindEnvironmentByID); err != nil {
			return err
		}
		return tx.CreateEnvironment(ctx, env)
	})
}

// UpdateEnvironment implements EnvironmentService.
func (s *Service) UpdateEnvironment(ctx context.Context, id string, upd EnvironmentUpdate) (*Environment, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	var env *Environment
	err = s.store.Update(ctx, func(tx Tx) error {
		env, err = liveEnvironment(ctx, tx, org.ID, id)
		if err != nil {
			return err
		}
		if upd.DisplayName != nil {
			env.DisplayName = *upd.DisplayName
		}
		if upd.StreamGovernancePackage != nil {
			env.StreamGovernancePackage = *upd.StreamGovernancePackage
		}
		if err := validateEnvironment(env); err != nil {
			return err
		}
		env.UpdatedAt = s.now()
		return tx.UpdateEnvironment(ctx, env)
	})
	return env, err
}

// DeleteEnvironment implements EnvironmentService. In one transaction it
// deletes the environment's clusters (and so their connectors), moves its
// networks and peerings to DEPROVISIONING, and marks it Deleting, so that
// the reconciler, even after a crash, removes their Azure resources and
// then the rows (PurgeEnvironment). An environment without networks holds
// nothing in Azure and goes at once.
func (s *Service) DeleteEnvironment(ctx context.Context, id string) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	in := OrgScope(org.ID)
	var changes []ObjectKey
	err = s.store.Update(ctx, func(tx Tx) error {
		changes = changes[:0]                            // Update may run fn again
		env, err := liveEnvironment(ctx, tx, org.ID, id) // locks the environment
		if err != nil {
			return err
		}
		now := s.now()
		// Each network, then each peering, is read again by ID, which locks
		// it (parents before children: networks, then their clusters and
		// peerings): a status write racing the delete either commits first,
		// and what it found (a network's VNet) is kept, or waits and then
		// finds the object DEPROVISIONING.
		nets, err := tx.FindNetworks(ctx, in, NetworkFilter{EnvironmentID: id})
		if err != nil {
			return err
		}
		for _, listed := range nets {
			n, err := tx.FindNetworkByID(ctx, in, listed.ID)
			if err != nil {
				return err
			}
			if n.deprovision(now) {
				if err := tx.UpdateNetworkStatus(ctx, n); err != nil {
					return err
				}
			}
			changes = append(changes, ObjectKey{Kind: KindNetwork, ID: n.ID})
		}
		clusters, err := tx.FindClusters(ctx, in, ClusterFilter{EnvironmentID: id})
		if err != nil {
			return err
		}
		for _, c := range clusters {
			if err := tx.DeleteCluster(ctx, in, c.ID); err != nil {
				return err
			}
			changes = append(changes, ObjectKey{Kind: KindCluster, ID: c.ID})
		}
		peerings, err := tx.FindPeerings(ctx, in, PeeringFilter{EnvironmentID: id})
		if err != nil {
			return err
		}
		for _, listed := range peerings {
			p, err := tx.FindPeeringByID(ctx, in, listed.ID)
			if err != nil {
				return err
			}
			if p.deprovision(now) {
				if err := tx.UpdatePeeringStatus(ctx, p); err != nil {
					return err
				}
			}
			changes = append(changes, ObjectKey{Kind: KindPeering, ID: p.ID})
		}
		if len(nets) == 0 { // so no peerings either: nothing in Azure
			return tx.DeleteEnvironment(ctx, in, id)
		}
		env.Deleting, env.UpdatedAt = true, now
		changes = append(changes, ObjectKey{Kind: KindEnvironment, ID: id})
		return tx.UpdateEnvironment(ctx, env)
	})
	if err == nil {
		for _, c := range changes {
			s.changed(c)
		}
	}
	return err
}

// deprovision moves the network to DEPROVISIONING, keeping the provider
// VNet it knows of; it reports whether anything changed.
func (n *Network) deprovision(now time.Time) bool {
	if n.Status.Phase == PhaseDeprovisioning {
		return false
	}
	n.Status = NetworkStatus{Phase: PhaseDeprovisioning, AzureVNet: n.Status.AzureVNet, AzureSubscription: n.Status.AzureSubscription}
	n.UpdatedAt = now
	return true
}

// deprovision moves the peering to DEPROVISIONING; it reports whether
// anything changed.
func (p *Peering) deprovision(now time.Time) bool {
	if p.Status.Phase == PhaseDeprovisioning {
		return false
	}
	p.Status = PeeringStatus{Phase: PhaseDeprovisioning}
	p.UpdatedAt = now
	return true
}

// --- networks ---

// FindNetworkByID implements NetworkService.
func (s *Service) FindNetworkByID(ctx context.Context, envID, id string) (*Network, error) {
	return findInEnv(s, ctx, envID, id, Tx.FindNetworkByID)
}

// findInEnv reads the caller's object id with find and checks that it is
// in environment envID.
func findInEnv[T envScoped](s *Service, ctx context.Context, envID, id string, find func(tx Tx, ctx context.Context, scope Scope, id string) (T, error)) (T, error) {
	var v T
	org, err := callerOrg(ctx)
	if err != nil {
		return v, err
	}
	err = s.store.View(ctx, func(tx Tx) error {
		v, err = find(tx, ctx, OrgScope(org.ID), id)
		if err := inEnv(v, err, envID, id); err != nil {
			return err
		}
		// Everything in an environment being deleted is DEPROVISIONING, so
		// only a DEPROVISIONING object needs its environment read.
		if v.deprovisioning() {
			if _, err := liveEnvironment(ctx, tx, org.ID, envID); err != nil {
				return notInEnv(v, id, envID)
			}
		}
		return nil
	})
	return v, err
}

// renamable is an object whose display name may change.
type renamable interface {
	envScoped
	displayName() *string
	touch(now time.Time)
}

func (n *Network) displayName() *string { return &n.DisplayName }
func (n *Network) touch(now time.Time)  { n.UpdatedAt = now }
func (p *Peering) displayName() *string { return &p.DisplayName }
func (p *Peering) touch(now time.Time)  { p.UpdatedAt = now }

// renameInEnv sets the display name of the caller's object id in envID to
// name (nil: unchanged), after check refuses changes to immutable fields;
// nothing is written when the name does not change, and write writes the
// name alone.
func renameInEnv[T renamable](s *Service, ctx context.Context, envID, id string, name *string,
	find func(tx Tx, ctx context.Context, scope Scope, id string) (T, error), check func(T) error,
	write func(tx Tx, ctx context.Context, v T) error) (T, error) {
	var v T
	org, err := callerOrg(ctx)
	if err != nil {
		return v, err
	}
	if name != nil {
		if err := ValidateDisplayName("/spec/display_name", *name); err != nil {
			return v, err
		}
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if v, err = findInLiveEnv(ctx, tx, org.ID, envID, id, find); err != nil {
			return err
		}
		if err := check(v); err != nil {
			return err
		}
		if name == nil || *name == *v.displayName() {
			return nil
		}
		*v.displayName() = *name
		v.touch(s.now())
		return write(tx, ctx, v)
	})
	return v, err
}

// envScoped is an object that lives in an environment.
type envScoped interface {
	// inEnvironment returns the object's kind ("Network") and environment.
	inEnvironment() (kind, envID string)
	// deprovisioning reports whether the object is being deleted.
	deprovisioning() bool
}

func (n *Network) inEnvironment() (string, string) { return "Network", n.EnvironmentID }
func (p *Peering) inEnvironment() (string, string) { return "Peering", p.EnvironmentID }
func (c *Cluster) inEnvironment() (string, string) { return "Cluster", c.EnvironmentID }

func (n *Network) deprovisioning() bool { return n.Status.Phase == PhaseDeprovisioning }
func (p *Peering) deprovisioning() bool { return p.Status.Phase == PhaseDeprovisioning }
func (c *Cluster) deprovisioning() bool { return false } // deleted at once

// inEnv returns err, or ENOTFOUND when v (read without error) is not in
// environment envID: another environment's object is not found in this one.
func inEnv(v envScoped, err error, envID, id string) error {
	if err != nil {
		return err
	}
	if _, env := v.inEnvironment(); env != envID {
		return notInEnv(v, id, envID)
	}
	return nil
}

func notInEnv(v envScoped, id, envID string) error {
	kind, _ := v.inEnvironment()
	return Errorf(ENOTFOUND, "%s %s was not found in environment %s.", kind, id, envID)
}

// findInLiveEnv reads the caller's object id with find, inside Update,
// after locking its environment envID (parents before children), and so
// locks it too. Returns ENOTFOUND if the environment is missing or being
// deleted, or the object is missing or in another environment.
func findInLiveEnv[T envScoped](ctx context.Context, tx Tx, orgID, envID, id string, find func(tx Tx, ctx context.Context, scope Scope, id string) (T, error)) (T, error) {
	var zero T
	if _, err := liveEnvironment(ctx, tx, orgID, envID); err != nil {
		return zero, err
	}
	v, err := find(tx, ctx, OrgScope(orgID), id)
	if err := inEnv(v, err, envID, id); err != nil {
		return zero, err
	}
	return v, nil
}

// findPage returns one page, of at most maxSize items, of the caller's objects
// in environment envID: find reads up to limit of them in scope after the
// given id, ordered by id.
func findPage[T any](s *Service, ctx context.Context, envID string, page Page, maxSize int, find func(tx Tx, scope Scope, after string, limit int) ([]*T, error), id func(*T) string) ([]*T, string, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, "", err
	}
	if err := requireEnvironment(envID); err != nil {
		return nil, "", err
	}
	after, size, err := pageBounds(page, maxSize)
	if err != nil {
		return nil, "", err
	}
	var vs []*T
	err = s.store.View(ctx, func(tx Tx) error {
		if _, err := liveEnvironment(ctx, tx, org.ID, envID); ErrorCode(err) == ENOTFOUND {
			return environmentForbidden(envID)
		} else if err != nil {
			return err
		}
		vs, err = find(tx, OrgScope(org.ID), after, size+1)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	vs, next := paginate(vs, size, id)
	return vs, next, nil
}

// environmentForbidden is what a list under an environment the caller
// cannot see answers, whether it never existed, belongs to another
// organization or was deleted: Confluent's 403 Forbidden Access.
func environmentForbidden(envID string) error {
	return FieldErrorf(EFORBIDDEN, "environment", "Forbidden Access: environment %s does not exist or is not accessible with this API key.", envID)
}

func requireEnvironment(envID string) error {
	if envID == "" {
		return FieldErrorf(EINVALID, "environment", "Query parameter environment is required.")
	}
	return nil
}

// FindNetworks implements NetworkService.
func (s *Service) FindNetworks(ctx context.Context, filter NetworkFilter, page Page) ([]*Network, string, error) {
	return findPage(s, ctx, filter.EnvironmentID, page, MaxPageSize, func(tx Tx, scope Scope, after string, limit int) ([]*Network, error) {
		filter.After, filter.Limit = after, limit
		return tx.FindNetworks(ctx, scope, filter)
	}, func(n *Network) string { return n.ID })
}

// CreateNetwork implements NetworkService.
func (s *Service) CreateNetwork(ctx context.Context, n *Network) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	settings := s.current()
	if err := settings.ValidateNetwork(n); err != nil {
		return err
	}
	n.OrgID = org.ID
	n.Status = NetworkStatus{Phase: PhaseProvisioning}
	n.CreatedAt = s.now()
	n.UpdatedAt = n.CreatedAt
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := liveEnvironment(ctx, tx, org.ID, n.EnvironmentID); err != nil { // locks the environment
			return notFoundAs(err, "/spec/environment/id", "Environment %s was not found.", n.EnvironmentID)
		}
		siblings, err := tx.FindNetworks(ctx, OrgScope(org.ID), NetworkFilter{EnvironmentID: n.EnvironmentID})
		if err != nil {
			return err
		}
		if err := settings.CheckNetworkQuota(len(siblings)); err != nil {
			return err
		}
		if err := CheckNetworkOverlap("", n.CIDR, siblings); err != nil {
			return err
		}
		if n.ID, err = freshID(ctx, s, PrefixNetwork, tx.FindNetworkByID); err != nil {
			return err
		}
		if n.DisplayName == "" {
			n.DisplayName = n.ID
		}
		return tx.CreateNetwork(ctx, n)
	})
	if err == nil {
		s.changed(NetworkKey(n.ID))
	}
	return err
}

// UpdateNetwork implements NetworkService.
func (s *Service) UpdateNetwork(ctx context.Context, envID, id string, upd NetworkUpdate) (*Network, error) {
	return renameInEnv(s, ctx, envID, id, upd.DisplayName, Tx.FindNetworkByID,
		func(n *Network) error { return checkNetworkImmutable(n, upd) }, Tx.UpdateNetworkSpec)
}

// DeleteNetwork implements NetworkService.
func (s *Service) DeleteNetwork(ctx context.Context, envID, id string) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		n, err := findInLiveEnv(ctx, tx, org.ID, envID, id, Tx.FindNetworkByID)
		if err != nil {
			return err
		}
		if n.Status.Phase == PhaseDeprovisioning {
			return nil
		}
		in := OrgScope(org.ID)
		peerings, err := tx.FindPeerings(ctx, in, PeeringFilter{NetworkIDs: []string{id}, Limit: 1})
		if err != nil {
			return err
		}
		clusters, err := tx.FindClusters(ctx, in, ClusterFilter{NetworkIDs: []string{id}, Limit: 1})
		if err != nil {
			return err
		}
		if len(peerings) > 0 || len(clusters) > 0 {
			return Errorf(ECONFLICT, "Network %s still has peerings or clusters; delete them first.", id)
		}
		n.deprovision(s.now())
		return tx.UpdateNetworkStatus(ctx, n)
	})
	if err == nil {
		s.changed(NetworkKey(id))
	}
	return err
}

// --- peerings ---

// FindPeeringByID implements PeeringService.
func (s *Service) FindPeeringByID(ctx context.Context, envID, id string) (*Peering, error) {
	return findInEnv(s, ctx, envID, id, Tx.FindPeeringByID)
}

// FindPeerings implements PeeringService.
func (s *Service) FindPeerings(ctx context.Context, filter PeeringFilter, page Page) ([]*Peering, string, error) {
	return findPage(s, ctx, filter.EnvironmentID, page, MaxPageSize, func(tx Tx, scope Scope, after string, limit int) ([]*Peering, error) {
		filter.After, filter.Limit = after, limit
		return tx.FindPeerings(ctx, scope, filter)
	}, func(p *Peering) string { return p.ID })
}

// CreatePeering implements PeeringService.
func (s *Service) CreatePeering(ctx context.Context, p *Peering) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	settings := s.current()
	if err := settings.ValidatePeering(p); err != nil {
		return err
	}
	if err := s.Provider.CheckCustomerVNet(p.Tenant, p.VNet); err != nil {
		return err
	}
	p.OrgID = org.ID
	p.Status = PeeringStatus{Phase: PhaseProvisioning}
	p.CreatedAt = s.now()
	p.UpdatedAt = p.CreatedAt
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := liveEnvironment(ctx, tx, org.ID, p.EnvironmentID); err != nil { // locks the environment
			return notFoundAs(err, "/spec/environment/id", "Environment %s was not found.", p.EnvironmentID)
		}
		n, err := tx.FindNetworkByID(ctx, OrgScope(org.ID), p.NetworkID) // locks the network
		if err != nil {
			return notFoundAs(err, "/spec/network/id", "Network %s was not found.", p.NetworkID)
		}
		if n.EnvironmentID != p.EnvironmentID {
			return FieldErrorf(ENOTFOUND, "/spec/network/id", "Network %s was not found in environment %s.", p.NetworkID, p.EnvironmentID)
		}
		if n.Status.Phase == PhaseDeprovisioning {
			return FieldErrorf(EINVALID, "/spec/network/id", "Network %s is being deleted.", n.ID)
		}
		existing, err := tx.FindPeerings(ctx, OrgScope(org.ID), PeeringFilter{NetworkIDs: []string{n.ID}})
		if err != nil {
			return err
		}
		if err := CheckPeeringUnique(p, existing); err != nil {
			return err
		}
		if err := settings.CheckPeeringQuota(len(existing)); err != nil {
			return err
		}
		if p.ID, err = freshID(ctx, s, PrefixPeering, tx.FindPeeringByID); err != nil {
			return err
		}
		if p.DisplayName == "" {
			p.DisplayName = p.ID
		}
		return tx.CreatePeering(ctx, p)
	})
	if err == nil {
		s.changed(PeeringKey(p.ID))
	}
	return err
}

// UpdatePeering implements PeeringService.
func (s *Service) UpdatePeering(ctx context.Context, envID, id string, upd PeeringUpdate) (*Peering, error) {
	return renameInEnv(s, ctx, envID, id, upd.DisplayName, Tx.FindPeeringByID,
		func(p *Peering) error { return checkPeeringImmutable(p, upd) }, Tx.UpdatePeeringSpec)
}

// DeletePeering implements PeeringService.
func (s *Service) DeletePeering(ctx context.Context, envID, id string) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		p, err := findInLiveEnv(ctx, tx, org.ID, envID, id, Tx.FindPeeringByID)
		if err != nil || !p.deprovision(s.now()) {
			return err
		}
		return tx.UpdatePeeringStatus(ctx, p)
	})
	if err == nil {
		s.changed(PeeringKey(id))
	}
	return err
}

// --- clusters ---

// FindClusterByID implements ClusterService.
func (s *Service) FindClusterByID(ctx context.Context, envID, id string) (*Cluster, error) {
	return findInEnv(s, ctx, envID, id, Tx.FindClusterByID)
}

// FindClusters implements ClusterService.
func (s *Service) FindClusters(ctx context.Context, filter ClusterFilter, page Page) ([]*Cluster, string, error) {
	return findPage(s, ctx, filter.EnvironmentID, page, MaxClusterPageSize, func(tx Tx, scope Scope, after string, limit int) ([]*Cluster, error) {
		filter.After, filter.Limit = after, limit
		return tx.FindClusters(ctx, scope, filter)
	}, func(c *Cluster) string { return c.ID })
}

// CreateCluster implements ClusterService.
func (s *Service) CreateCluster(ctx context.Context, c *Cluster) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	settings := s.current()
	if err := ValidateDisplayName("/spec/display_name", c.DisplayName); err != nil {
		return err
	}
	if c.EnvironmentID == "" {
		return FieldErrorf(EINVALID, "/spec/environment/id", "Environment is required.")
	}
	if c.NetworkID == "" {
		return FieldErrorf(EINVALID, "/spec/network/id", "Network is required: Dedicated clusters here are placed in a network.")
	}
	c.OrgID = org.ID
	c.Status = ClusterStatus{Phase: ClusterPhaseProvisioning}
	c.CreatedAt = s.now()
	c.UpdatedAt = c.CreatedAt
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := liveEnvironment(ctx, tx, org.ID, c.EnvironmentID); err != nil { // locks the environment
			return notFoundAs(err, "/spec/environment/id", "Environment %s was not found.", c.EnvironmentID)
		}
		n, err := tx.FindNetworkByID(ctx, OrgScope(org.ID), c.NetworkID) // locks the network
		if err != nil {
			return notFoundAs(err, "/spec/network/id", "Network %s was not found.", c.NetworkID)
		}
		if err := settings.ValidateCluster(c, n); err != nil {
			return err
		}
		envClusters, err := tx.FindClusters(ctx, OrgScope(org.ID), ClusterFilter{EnvironmentID: c.EnvironmentID})
		if err != nil {
			return err
		}
		var netClusters []*Cluster
		for _, e := range envClusters {
			if e.NetworkID == n.ID {
				netClusters = append(netClusters, e)
			}
		}
		if c.ID, err = freshID(ctx, s, PrefixCluster, tx.FindClusterByID); err != nil {
			return err
		}
		if err := settings.CheckClusterQuota(c, envClusters, netClusters); err != nil {
			return err
		}
		if c.DisplayName == "" {
			c.DisplayName = c.ID
		}
		return tx.CreateCluster(ctx, c)
	})
	if err == nil {
		s.changed(ClusterKey(c.ID))
	}
	return err
}

// UpdateCluster implements ClusterService.
func (s *Service) UpdateCluster(ctx context.Context, envID, id string, upd ClusterUpdate) (*Cluster, error) {
	org, err := callerOrg(ctx)
	if err != nil {
		return nil, err
	}
	if upd.DisplayName != nil {
		if err := ValidateDisplayName("/spec/display_name", *upd.DisplayName); err != nil {
			return nil, err
		}
	}
	settings := s.current()
	var c *Cluster
	resized := false
	err = s.store.Update(ctx, func(tx Tx) error {
		if c, err = findInLiveEnv(ctx, tx, org.ID, envID, id, Tx.FindClusterByID); err != nil {
			return err
		}
		if upd.CKU != nil && *upd.CKU != c.CKU {
			if err := ValidateCKU(c.Availability, *upd.CKU); err != nil {
				return err
			}
			// Every cluster of the network is in its environment, locked
			// above: no other change to them commits before this one.
			netClusters, err := tx.FindClusters(ctx, OrgScope(org.ID), ClusterFilter{NetworkIDs: []string{c.NetworkID}})
			if err != nil {
				return err
			}
			c.CKU = *upd.CKU
			if err := settings.CheckClusterQuota(c, nil, netClusters); err != nil {
				return err
			}
			resized = true
		}
		if upd.DisplayName != nil {
			c.DisplayName = *upd.DisplayName
		}
		c.UpdatedAt = s.now()
		return tx.UpdateClusterSpec(ctx, c)
	})
	if err == nil && resized {
		s.changed(ClusterKey(id))
	}
	return c, err
}

// DeleteCluster implements ClusterService.
func (s *Service) DeleteCluster(ctx context.Context, envID, id string) error {
	org, err := callerOrg(ctx)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := findInLiveEnv(ctx, tx, org.ID, envID, id, Tx.FindClusterByID); err != nil {
			return err
		}
		return tx.DeleteCluster(ctx, OrgScope(org.ID), id)
	})
	if err == nil {
		s.changed(ClusterKey(id))
	}
	return err
}

func immutable(field, what string) error {
	return FieldErrorf(EINVALID, field, "%s cannot be changed; only the display name can.", what)
}

// checkNetworkImmutable returns EINVALID naming the first immutable field
// upd would change.
func checkNetworkImmutable(n *Network, upd NetworkUpdate) error {
	if upd.CIDR != nil && *upd.CIDR != n.CIDR {
		return immutable("/spec/cidr", "The CIDR of a network")
	}
	if upd.Cloud != nil && !strings.EqualFold(*upd.Cloud, n.Cloud) {
		return immutable("/spec/cloud", "The cloud of a network")
	}
	if upd.Region != nil && *upd.Region != n.Region {
		return immutable("/spec/region", "The region of a network")
	}
	if upd.ConnectionTypes != nil {
		upper := make([]string, len(upd.ConnectionTypes))
		for i, t := range upd.ConnectionTypes {
			upper[i] = strings.ToUpper(t)
		}
		if !sameSet(upper, n.ConnectionTypes) {
			return immutable("/spec/connection_types", "The connection types of a network")
		}
	}
	return nil
}

// checkPeeringImmutable returns EINVALID naming the first immutable field
// upd would change.
func checkPeeringImmutable(p *Peering, upd PeeringUpdate) error {
	if upd.NetworkID != nil && *upd.NetworkID != p.NetworkID {
		return immutable("/spec/network/id", "The network of a peering")
	}
	if c := upd.Cloud; c != nil {
		if c.Tenant != "" && !strings.EqualFold(c.Tenant, p.Tenant) {
			return immutable("/spec/cloud/tenant", "The tenant of a peering")
		}
		if c.VNet != "" && VNetKey(c.VNet) != VNetKey(p.VNet) {
			return immutable("/spec/cloud/vnet", "The VNet of a peering")
		}
		if c.CustomerRegion != "" && c.CustomerRegion != p.CustomerRegion {
			return immutable("/spec/cloud/customer_region", "The customer region of a peering")
		}
	}
	return nil
}

// freshID draws an id with prefix (Service.NewID) until find, reading in
// the creating transaction, finds no object with it. Six random
// characters do collide: among 10,000 peerings about once in 40 sets, and
// an insert on a taken id fails with the wrong error (a 409 naming the
// VNet, not the id).
func freshID[T any](ctx context.Context, s *Service, prefix string, find func(ctx context.Context, scope Scope, id string) (*T, error)) (string, error) {
	draw := s.NewID
	if draw == nil {
		draw = NewID
	}
	for {
		id := draw(prefix)
		_, err := find(ctx, AllOrgs(), id)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			return id, nil
		case err != nil:
			return "", err
		}
	}
}
