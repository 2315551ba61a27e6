package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azure"
	"github.com/peerplane/peerplane/internal/azureemu"
	"github.com/peerplane/peerplane/internal/control"
)

// Enqueuer takes the keys the reconciler's inputs produce; *Leader
// implements it, passing them to its controller while it leads.
type Enqueuer interface {
	// EnqueueKeys queues keys now; it does nothing when not leading.
	EnqueueKeys(keys []Key)
	// Rescan queues every stored object being created or deleted (the
	// wake-ups lost meanwhile); it does nothing, and returns nil, when not
	// leading.
	Rescan(ctx context.Context) error
	// Leading reports whether keys queued now would be reconciled here.
	Leading() bool
}

var _ Enqueuer = (*Leader)(nil)

// PeeringScopes finds the peerings an Azure change may affect;
// *control.Service implements it.
type PeeringScopes interface {
	// PeeringKeysForScopes returns the key of every peering whose VNet is
	// in one of scopes: in its tenant (any when empty) and at or under its
	// ARM scope (any when empty).
	PeeringKeysForScopes(ctx context.Context, scopes []control.AzureScope) ([]Key, error)
	// PeeringsOfNetwork returns the network's peerings.
	PeeringsOfNetwork(ctx context.Context, networkID string) ([]*control.Peering, error)
}

// EventWatcher long-polls the embedded Azure's change feed
// (/_emulator/events) and queues the peerings a change may affect, so
// that a consent, role assignment, tag or deleted half is acted on at once
// rather than at the next retry. Each replica watches its own embedded
// Azure, whose feed also carries the changes other replicas made (see
// Relay); only the leading replica looks up and queues peerings.
type EventWatcher struct {
	Client *http.Client
	URL    string // the embedded Azure's base URL, without a trailing slash
	Token  string // the operator token, when one is set
	// ProviderTenant is the provider's tenant: its consents and role
	// changes concern every peering, a change of a provider VNet that
	// network's (see eventTarget).
	ProviderTenant string
	// ProviderApp is the provider app's client id: a change whose actor
	// it is was made by the reconciler itself, which already knows.
	ProviderApp string
	Peerings    PeeringScopes
	Queue       Enqueuer
	// Wait is how long one poll waits for an event; default 25s.
	Wait time.Duration
	// Backoff is the delay after a poll that failed (no answer, a status
	// other than 200, a body that does not decode), jittered; default
	// 100ms doubling to 30s. A poll that succeeds resets it.
	Backoff Backoff
	Logger  *slog.Logger

	after func(d time.Duration) <-chan time.Time // time.After; tests fake it
}

// eventFeed is the feed's answer.
type eventFeed struct {
	Events []azureemu.Event `json:"events"`
	Last   int64            `json:"last"`
}

// Run watches until ctx is done.
func (w *EventWatcher) Run(ctx context.Context) {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := w.Backoff
	if backoff == (Backoff{}) {
		backoff = Backoff{Base: 100 * time.Millisecond, Max: 30 * time.Second}
	}
	after := w.after
	if after == nil {
		after = time.After
	}
	wait := w.Wait
	if wait <= 0 {
		wait = 25 * time.Second
	}
	seq := int64(-1)
	failures := 0
	for ctx.Err() == nil {
		feed, err := w.poll(ctx, seq, wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := backoff.Jitter(failures)
			log.Debug("read azure events", "err", err, "retry_in", d)
			select {
			case <-ctx.Done():
			case <-after(d):
			}
			continue
		}
		failures = 0
		if seq >= 0 && w.Queue.Leading() {
			w.enqueue(ctx, feed, seq, log)
		}
		seq = feed.Last
	}
}

// poll asks the feed for the events after seq.
func (w *EventWatcher) poll(ctx context.Context, seq int64, wait time.Duration) (*eventFeed, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/_emulator/events?after=%d&wait=%s", w.URL, seq, wait), nil)
	if err != nil {
		return nil, err
	}
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	resp, err := w.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var feed eventFeed
	if err := json.NewDecoder(resp.Body).Decode(&feed); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &feed, nil
}

// enqueue queues the objects the feed's events may affect; seq is the
// sequence number the poll asked to continue after.
func (w *EventWatcher) enqueue(ctx context.Context, feed *eventFeed, seq int64, log *slog.Logger) {
	var keys []Key
	scopes := map[control.AzureScope]bool{} // "" matches all
	networks := map[string]bool{}
	all := feed.Last < seq // the emulator restarted: resync all
	for _, ev := range feed.Events {
		wk := eventTarget(ev, w.ProviderTenant, w.ProviderApp)
		switch {
		case wk.all:
			all = true
		case wk.peering != "":
			keys = append(keys, peeringKey(wk.peering))
		case wk.network != "":
			networks[wk.network] = true
		case wk.scope != nil:
			scopes[*wk.scope] = true
		}
	}
	w.Queue.EnqueueKeys(keys)
	if all {
		scopes, networks = map[control.AzureScope]bool{{}: true}, nil
	}
	for n := range networks {
		ps, err := w.Peerings.PeeringsOfNetwork(ctx, n)
		if err != nil {
			log.Warn("find the peerings of a network for an azure change", "network", n, "err", err)
			continue
		}
		keys := []Key{networkKey(n)}
		for _, p := range ps {
			keys = append(keys, peeringKey(p.ID))
		}
		w.Queue.EnqueueKeys(keys)
	}
	if len(scopes) > 0 {
		// One read of the peerings for every scope the events touched.
		list := slices.Collect(maps.Keys(scopes))
		keys, err := w.Peerings.PeeringKeysForScopes(ctx, list)
		if err != nil {
			log.Warn("find peerings for azure changes", "scopes", len(list), "err", err)
			return
		}
		w.Queue.EnqueueKeys(keys)
	}
}

// wake is what an event wakes: nothing (the zero wake), every peering,
// one peering, one network and its peerings, or the peerings whose VNet
// is in a tenant at or under an ARM scope.
type wake struct {
	all     bool
	peering string
	network string
	scope   *control.AzureScope // Scope "": the whole tenant
}

// eventTarget says what an emulator event may affect:
//   - a change the provider app made (its Actor is providerApp) is the
//     reconciler's own write, which it saw the result of: nothing;
//   - a peering half Peerplane made is named after its peering (peer-…):
//     that peering alone, on either side; another half of the provider's:
//     nothing; a customer's: the peerings of its VNet;
//   - in the provider tenant, a provider VNet (named after its network):
//     that network and its peerings; a consent or a role change (what the
//     provider app may do): every peering; a security group: nothing;
//   - in a customer tenant, a role assignment: the peerings whose VNet is
//     under its scope; a VNet change: that VNet's; a security group:
//     nothing; a consent, a role definition or anything else: every
//     peering of the tenant.
func eventTarget(ev azureemu.Event, providerTenant, providerApp string) wake {
	if ev.Actor != "" && strings.EqualFold(ev.Actor, providerApp) {
		return wake{}
	}
	provider := strings.EqualFold(ev.TenantID, providerTenant)
	switch ev.Type {
	case azureemu.EventPeering, azureemu.EventPeeringDeleted:
		vnet, name, _ := strings.Cut(ev.ResourceID, "/virtualNetworkPeerings/")
		switch {
		case strings.HasPrefix(name, "peer-"):
			return wake{peering: name}
		case provider:
			return wake{} // not one of ours
		}
		return wake{scope: &control.AzureScope{Tenant: ev.TenantID, Scope: vnet}}
	case azureemu.EventNSG:
		return wake{}
	case azureemu.EventVNet, azureemu.EventVNetDeleted:
		if !provider {
			return wake{scope: &control.AzureScope{Tenant: ev.TenantID, Scope: ev.ResourceID}}
		}
		if rid, err := azure.ParseVNetID(ev.ResourceID); err == nil {
			return wake{network: rid.Name} // EnsureProviderVNet names it after its network
		}
		return wake{}
	case azureemu.EventRoleAssignment:
		if !provider {
			return wake{scope: &control.AzureScope{Tenant: ev.TenantID, Scope: ev.ResourceID}}
		}
	}
	if provider {
		return wake{all: true}
	}
	return wake{scope: &control.AzureScope{Tenant: ev.TenantID, Scope: ""}}
}
