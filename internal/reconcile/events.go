package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
)

// Enqueuer takes the keys the reconciler's inputs produce; *Leader
// implements it, passing them to its controller while it leads.
type Enqueuer interface {
	// EnqueueKeys queues keys now; it does nothing when not leading.
	EnqueueKeys(keys []Key)
	// EnqueueAll queues every stored object; it does nothing, and returns
	// nil, when not leading.
	EnqueueAll(ctx context.Context) error
	// Leading reports whether keys queued now would be reconciled here.
	Leading() bool
}

var _ Enqueuer = (*Leader)(nil)

// PeeringScopes finds the peerings an Azure change may affect;
// *control.Service implements it.
type PeeringScopes interface {
	// PeeringKeysForScope returns the key of every peering whose
	// VNet is in tenant (any tenant when empty) and at or under the ARM
	// scope (any scope when empty).
	PeeringKeysForScope(ctx context.Context, tenant, scope string) ([]Key, error)
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
	// ProviderTenant is the provider's tenant: most of its changes concern
	// every peering (see eventTarget).
	ProviderTenant string
	Peerings       PeeringScopes
	Queue          Enqueuer
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

// enqueue queues the peerings the feed's events may affect; seq is the
// sequence number the poll asked to continue after.
func (w *EventWatcher) enqueue(ctx context.Context, feed *eventFeed, seq int64, log *slog.Logger) {
	targets := map[[2]string]bool{} // (tenant, scope); "" matches all
	var keys []Key
	for _, ev := range feed.Events {
		t, peering, ok := eventTarget(ev, w.ProviderTenant)
		switch {
		case peering != "":
			keys = append(keys, peeringKey(peering))
		case ok:
			targets[t] = true
		}
	}
	w.Queue.EnqueueKeys(keys)
	if feed.Last < seq { // the emulator restarted: resync all
		targets[[2]string{}] = true
	}
	if targets[[2]string{}] {
		targets = map[[2]string]bool{{}: true}
	}
	for t := range targets {
		keys, err := w.Peerings.PeeringKeysForScope(ctx, t[0], t[1])
		if err != nil {
			log.Warn("find peerings for an azure change", "tenant", t[0], "scope", t[1], "err", err)
			continue
		}
		w.Queue.EnqueueKeys(keys)
	}
}

// eventTarget says which peerings an emulator event may affect: a peering
// half Peerplane made is named after its peering (peer-…), so a change to
// one targets that peering alone, on either side; otherwise it is a
// (tenant, ARM scope) pair: a role assignment targets the peerings whose
// VNet is under its scope, a VNet change those of that VNet, a consent or a
// role definition every peering of the tenant, any other provider-tenant
// change every peering. Security group changes do not affect peerings.
func eventTarget(ev azureemu.Event, providerTenant string) (target [2]string, peering string, ok bool) {
	if ev.Type == azureemu.EventPeering || ev.Type == azureemu.EventPeeringDeleted {
		vnet, name, _ := strings.Cut(ev.ResourceID, "/virtualNetworkPeerings/")
		if strings.HasPrefix(name, "peer-") {
			return [2]string{}, name, true
		}
		if strings.EqualFold(ev.TenantID, providerTenant) {
			return [2]string{}, "", false // not one of ours
		}
		return [2]string{ev.TenantID, vnet}, "", true
	}
	if strings.EqualFold(ev.TenantID, providerTenant) {
		return [2]string{}, "", true
	}
	switch ev.Type {
	case azureemu.EventRoleAssignment, azureemu.EventVNet, azureemu.EventVNetDeleted:
		return [2]string{ev.TenantID, ev.ResourceID}, "", true
	case azureemu.EventNSG:
		return [2]string{}, "", false
	}
	return [2]string{ev.TenantID, ""}, "", true
}
