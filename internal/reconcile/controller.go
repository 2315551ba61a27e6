package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/control"
)

// Control is what the reconciler needs of the control plane: reads of any
// organization's objects, status writes that change nothing when nothing
// changed, and purges of objects whose cleanup is done.
type Control interface {
	// ReconcileEnvironment, ReconcileNetwork, ReconcilePeering and
	// ReconcileCluster return the object whatever its organization (an
	// environment also while it is being deleted); ENOTFOUND if it does
	// not exist.
	ReconcileEnvironment(ctx context.Context, id string) (*control.Environment, error)
	ReconcileNetwork(ctx context.Context, id string) (*control.Network, error)
	ReconcilePeering(ctx context.Context, id string) (*control.Peering, error)
	ReconcileCluster(ctx context.Context, id string) (*control.Cluster, error)
	// PeeringsOfNetwork returns the network's peerings; ClustersOfNetwork
	// its clusters.
	PeeringsOfNetwork(ctx context.Context, networkID string) ([]*control.Peering, error)
	ClustersOfNetwork(ctx context.Context, networkID string) ([]*control.Cluster, error)
	// AllObjectKeys returns the keys of every network, peering and
	// cluster, and of every environment being deleted, to resume after a
	// restart.
	AllObjectKeys(ctx context.Context) ([]Key, error)
	// UnsettledObjectKeys returns the keys of the objects being created
	// or deleted, and of every environment being deleted: those a lost
	// wake-up may have left waiting.
	UnsettledObjectKeys(ctx context.Context) ([]Key, error)
	// ObjectKeysOfEnvironment returns the keys of what is left in an
	// environment.
	ObjectKeysOfEnvironment(ctx context.Context, envID string) ([]Key, error)

	UpdateNetworkStatus(ctx context.Context, id string, status control.NetworkStatus) (*control.Network, error)
	// UpdatePeeringStatusFrom writes status unless the peering's status is
	// no longer from (ECONFLICT).
	UpdatePeeringStatusFrom(ctx context.Context, id string, from, status control.PeeringStatus) (*control.Peering, error)
	UpdateClusterStatus(ctx context.Context, id string, status control.ClusterStatus) (*control.Cluster, error)
	PurgeEnvironment(ctx context.Context, id string) error
	PurgeNetwork(ctx context.Context, id string) error
	PurgePeering(ctx context.Context, id string) error

	Settings() control.Settings
}

// Azure is the slice of Azure the reconciler calls; *azure.Client
// implements it.
type Azure interface {
	ProviderTenantID() string
	CheckTenantAccess(ctx context.Context, tenant string) error
	GetVNet(ctx context.Context, tenant, id string) (*azure.VNet, error)
	EnsureProviderVNet(ctx context.Context, name, location, cidr string, tags map[string]string) (*azure.VNet, error)
	ProviderVNetID(name string) string
	DeleteProviderVNet(ctx context.Context, name string) error
	GetPeering(ctx context.Context, tenant, localVNetID, name string) (*azure.PeeringHalf, error)
	ListPeerings(ctx context.Context, tenant, localVNetID string) ([]*azure.PeeringHalf, error)
	PutPeering(ctx context.Context, tenant, localVNetID, name, remoteTenant, remoteVNetID string, syncRemote bool) (*azure.PeeringHalf, error)
	DeletePeering(ctx context.Context, tenant, localVNetID, name string) error
}

var _ Azure = (*azure.Client)(nil)

// Config configures a Controller.
type Config struct {
	Control Control
	Azure   Azure
	// App is the provider app customers consent to, for the checklist's
	// fixes (its login URL is the authority of the consent link).
	App control.ProviderApp
	// Provider is the provider's own tenant and subscription, which no
	// peering may name (control.ProviderAccount.CheckCustomerVNet).
	Provider control.ProviderAccount
	// Workers is the number of concurrent reconciles; default
	// DefaultWorkers. A reconcile mostly waits on Azure and the store, so
	// there are more of them than cores: 2,000 new peerings on PostgreSQL
	// converge in 20 s with 16 against 33 s with 4 (on SQLite 15 s and 16 s).
	Workers int
	// Backoff for failed objects; default 1s doubling to 1m.
	Backoff Backoff
	// Resync is about how often a READY peering is re-checked against
	// Azure, the safety net under the events (a real Azure sends none);
	// NetworkResync the same for a READY network's provider VNet. Each
	// next check is drawn between half of it and all of it, so that
	// objects checked together drift apart and never come back as a
	// burst. Defaults DefaultResync and DefaultNetworkResync.
	Resync        time.Duration
	NetworkResync time.Duration
	// Now is the clock of the checklists' CheckedAt; time.Now by default.
	Now func() time.Time
	// Timeout bounds each Reconcile: a reconcile stuck on Azure or the
	// store ends with context.DeadlineExceeded and is retried with
	// backoff. Keep it shorter than the leader lease's TTL; default 5s.
	Timeout time.Duration
	Logger  *slog.Logger
	// Observe, when set, is told of every reconcile the controller runs
	// (for metrics). It must be cheap and safe for concurrent use.
	Observe func(Observation)
	// PrivateDNSDomain is the domain of the clusters' private names;
	// control.DefaultPrivateDNSDomain by default.
	PrivateDNSDomain string
	// ClusterChanged, when set, is called after the controller wrote a
	// cluster's status (its endpoints are to start). It must not block.
	ClusterChanged func(id string)
}

// DefaultWorkers is the default number of concurrent reconciles.
const DefaultWorkers = 16

// environmentRecheck is how often an environment being deleted queues
// what is left in it again, for a replica that did not see the delete.
const environmentRecheck = 30 * time.Second

// Default intervals of the safety nets under the events, from the
// arithmetic in docs/ARCHITECTURE.md ("Idle"): 10,000 READY peerings
// re-checked every 30-60 minutes cost about 1% of one core.
const (
	DefaultResync        = time.Hour
	DefaultNetworkResync = 10 * time.Minute
)

// resync is the Result of a settled object: its next periodic check,
// after a delay drawn uniformly between every/2 and every.
func (c *Controller) resync(every time.Duration) Result {
	return Result{RequeueAfter: every/2 + rand.N(every/2+1), Resync: true}
}

// Controller reconciles environments being deleted, networks, peerings
// and clusters.
type Controller struct {
	cfg Config
	q   *Queue
	log *slog.Logger

	allocMu sync.Mutex // held while a cluster's broker addresses are picked and written
	halves  *halfCache // the provider VNets' halves, for new peerings' overlap checks
}

// New returns a controller; Run starts it.
func New(cfg Config) *Controller {
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = Backoff{Base: time.Second, Max: time.Minute}
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.NetworkResync == 0 {
		cfg.NetworkResync = DefaultNetworkResync
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PrivateDNSDomain == "" {
		cfg.PrivateDNSDomain = control.DefaultPrivateDNSDomain
	}
	return &Controller{cfg: cfg, q: NewQueue(cfg.Backoff), log: cfg.Logger, halves: newHalfCache(cfg.Azure, cfg.Now)}
}

// Enqueue asks for the object key to be reconciled now.
func (c *Controller) Enqueue(key Key) { c.q.Add(key) }

// EnqueueAll asks for every object to be reconciled now.
func (c *Controller) EnqueueAll(ctx context.Context) error {
	return c.enqueueListed(c.cfg.Control.AllObjectKeys(ctx))
}

// Rescan queues every object that is being created or deleted: the
// safety net for a wake-up lost on its way. The settled objects are left
// to their own resync, so a rescan is one query of the store, not a
// reconcile of every object.
func (c *Controller) Rescan(ctx context.Context) error {
	return c.enqueueListed(c.cfg.Control.UnsettledObjectKeys(ctx))
}

// enqueueListed queues keys, unless listing them failed with err.
func (c *Controller) enqueueListed(keys []Key, err error) error {
	if err != nil {
		return err
	}
	for _, k := range keys {
		c.q.Add(k)
	}
	return nil
}

// Run reconciles until ctx is done, starting with every stored object.
// The controller cannot be run again afterwards.
func (c *Controller) Run(ctx context.Context) error {
	for {
		err := c.EnqueueAll(ctx)
		if err == nil {
			break
		}
		c.log.Warn("list objects to resume", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	Run(ctx, c.q, ReconcilerFunc(c.observed), c.cfg.Workers, func(key Key, err error, retryIn time.Duration) {
		var f *failed
		if errors.As(err, &f) {
			c.log.Debug("reconcile failed; will retry", "key", key, "code", f.code, "retry_in", retryIn)
			return
		}
		c.log.Warn("reconcile error; will retry", "key", key, "err", err, "retry_in", retryIn)
	})
	return nil
}

// failed is returned by Reconcile for an object left FAILED, so that it
// is retried with backoff.
type failed struct{ code string }

func (f *failed) Error() string { return "failed: " + f.code }

type keyCtx struct{}

// KeyFrom returns the key being reconciled in ctx, or the zero Key, so
// that a wrapped Azure client can attribute its calls to an object.
func KeyFrom(ctx context.Context) Key {
	k, _ := ctx.Value(keyCtx{}).(Key)
	return k
}

// Reconcile reconciles the object named by key, within Config.Timeout.
func (c *Controller) Reconcile(ctx context.Context, key Key) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()

	ctx = context.WithValue(ctx, keyCtx{}, key)
	switch key.Kind {
	case KindEnvironment:
		return c.reconcileEnvironment(ctx, key.ID)
	case KindNetwork:
		return c.reconcileNetwork(ctx, key.ID)
	case KindPeering:
		return c.reconcilePeering(ctx, key.ID)
	case KindCluster:
		return c.reconcileCluster(ctx, key.ID)
	}
	return Result{}, nil
}

func (c *Controller) reconcileNetwork(ctx context.Context, id string) (Result, error) {
	n, err := c.cfg.Control.ReconcileNetwork(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	log := c.log.With("network", id)
	if n.Status.Phase == control.PhaseDeprovisioning {
		peerings, err := c.cfg.Control.PeeringsOfNetwork(ctx, id)
		if err != nil {
			return Result{}, err
		}
		clusters, err := c.cfg.Control.ClustersOfNetwork(ctx, id)
		if err != nil {
			return Result{}, err
		}
		if len(peerings)+len(clusters) > 0 {
			for _, p := range peerings {
				c.q.Add(peeringKey(p.ID))
			}
			for _, cl := range clusters {
				c.q.Add(clusterKey(cl.ID))
			}
			return Result{RequeueAfter: time.Second}, nil
		}
		if err := c.cfg.Azure.DeleteProviderVNet(ctx, n.ID); err != nil {
			return Result{}, fmt.Errorf("delete provider vnet: %w", err)
		}
		if err := c.cfg.Control.PurgeNetwork(ctx, id); err != nil && control.ErrorCode(err) != control.ENOTFOUND {
			return Result{}, err
		}
		log.Info("network deleted")
		// Its environment may be being deleted and now empty.
		c.q.Add(environmentKey(n.EnvironmentID))
		return Result{}, nil
	}
	v, err := c.ensureProviderVNet(ctx, n)
	if err != nil {
		return Result{}, err
	}
	rid, _ := azure.ParseVNetID(v.ID)
	before := n.Status.Phase
	status := control.NetworkStatus{Phase: control.PhaseReady, AzureVNet: v.ID, AzureSubscription: rid.SubscriptionID}
	if n.Status == status { // nothing to write: no store transaction either
		return c.resync(c.cfg.NetworkResync), nil
	}
	n, err = c.cfg.Control.UpdateNetworkStatus(ctx, id, status)
	if err != nil {
		return Result{}, err
	}
	if before != control.PhaseReady {
		log.Info("network ready", "vnet", v.ID)
		// Peerings and clusters waiting for the network go on at once.
		peerings, _ := c.cfg.Control.PeeringsOfNetwork(ctx, id)
		for _, p := range peerings {
			c.q.Add(peeringKey(p.ID))
		}
		clusters, _ := c.cfg.Control.ClustersOfNetwork(ctx, id)
		for _, cl := range clusters {
			c.q.Add(clusterKey(cl.ID))
		}
	}
	return c.resync(c.cfg.NetworkResync), nil
}

// ProviderVNetTags are the tags of network id's provider VNet: they name
// the network, so that an event about the VNet wakes that network alone.
func ProviderVNetTags(n *control.Network) map[string]string {
	return map[string]string{TagNetwork: n.ID, TagEnvironment: n.EnvironmentID}
}

// Tags of a provider VNet.
const (
	TagNetwork     = "peerplane-network"
	TagEnvironment = "peerplane-environment"
)

// ensureProviderVNet reads network n's provider VNet and creates or
// updates it only when it is missing or differs from what n wants (its
// location, address space or tags): a resync of a network whose VNet is
// as wanted makes one read and no write.
func (c *Controller) ensureProviderVNet(ctx context.Context, n *control.Network) (*azure.VNet, error) {
	tags := ProviderVNetTags(n)
	v, err := c.cfg.Azure.GetVNet(ctx, c.cfg.Azure.ProviderTenantID(), c.cfg.Azure.ProviderVNetID(n.ID))
	switch {
	case err == nil && providerVNetAsWanted(v, n, tags):
		return v, nil
	case err != nil && !azure.IsNotFound(err):
		return nil, fmt.Errorf("read provider vnet: %w", err)
	}
	v, err = c.cfg.Azure.EnsureProviderVNet(ctx, n.ID, n.Region, n.CIDR, tags)
	if err != nil {
		return nil, fmt.Errorf("ensure provider vnet: %w", err)
	}
	return v, nil
}

// providerVNetAsWanted reports whether v has network n's location, its
// CIDR as its only address prefix, and exactly the tags wanted.
func providerVNetAsWanted(v *azure.VNet, n *control.Network, tags map[string]string) bool {
	if !strings.EqualFold(v.Location, n.Region) || len(v.AddressPrefixes) != 1 || v.AddressPrefixes[0] != n.CIDR || len(v.Tags) != len(tags) {
		return false
	}
	for k, want := range tags {
		if got, ok := v.Tags[k]; !ok || got != want {
			return false
		}
	}
	return true
}

// reconcileEnvironment purges an environment being deleted once nothing is
// left in it. DeleteEnvironment moved what it holds to DEPROVISIONING (and
// deleted its clusters); their own keys remove them, and the last
// network's purge queues the environment again. Until then it re-queues
// what is left every environmentRecheck, for a replica that did not see
// the delete.
func (c *Controller) reconcileEnvironment(ctx context.Context, id string) (Result, error) {
	env, err := c.cfg.Control.ReconcileEnvironment(ctx, id)
	if control.ErrorCode(err) == control.ENOTFOUND {
		return Result{}, nil
	} else if err != nil {
		return Result{}, err
	}
	if !env.Deleting {
		return Result{}, nil
	}
	left, err := c.cfg.Control.ObjectKeysOfEnvironment(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if len(left) > 0 {
		for _, k := range left {
			c.q.Add(k)
		}
		return Result{RequeueAfter: environmentRecheck}, nil
	}
	switch err := c.cfg.Control.PurgeEnvironment(ctx, id); control.ErrorCode(err) {
	case "", control.ENOTFOUND:
	case control.ECONFLICT: // something appeared since the read: look again
		return Result{RequeueAfter: time.Second}, nil
	default:
		return Result{}, err
	}
	c.log.Info("environment deleted", "environment", id)
	return Result{}, nil
}
