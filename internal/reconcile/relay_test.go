package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
)

// memBus is an in-memory PubSub shared by the relays of a test, as one
// database is by replicas.
type memBus struct {
	mu         sync.Mutex
	listeners  map[int]func(string)
	next       int
	sent       []string
	failSend   int   // fail this many Notify calls
	failListen error // when set, Listen fails at once with it
	listens    int
}

func newMemBus() *memBus { return &memBus{listeners: map[int]func(string){}} }

func (b *memBus) Notify(ctx context.Context, topic string, payloads ...string) error {
	b.mu.Lock()
	if b.failSend > 0 {
		b.failSend--
		b.mu.Unlock()
		return errors.New("database down")
	}
	b.sent = append(b.sent, payloads...)
	ls := make([]func(string), 0, len(b.listeners))
	for _, l := range b.listeners {
		ls = append(ls, l)
	}
	b.mu.Unlock()
	for _, p := range payloads {
		for _, l := range ls {
			l(p)
		}
	}
	return nil
}

func (b *memBus) Listen(ctx context.Context, topic string, ready func(), fn func(string)) error {
	b.mu.Lock()
	b.listens++
	if err := b.failListen; err != nil {
		b.mu.Unlock()
		return err
	}
	id := b.next
	b.next++
	b.listeners[id] = fn
	b.mu.Unlock()
	ready()
	<-ctx.Done()
	b.mu.Lock()
	delete(b.listeners, id)
	b.mu.Unlock()
	return ctx.Err()
}

func (b *memBus) sentCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sent)
}

func (b *memBus) listening() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.listeners)
}

// startRelays runs one relay per queue on bus until the test ends; each,
// when set, may change the relays before they run.
func startRelays(t *testing.T, bus *memBus, each func(i int, r *Relay), queues ...*fakeQueue) []*Relay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var relays []*Relay
	for i, q := range queues {
		r := &Relay{PubSub: bus, Self: fmt.Sprintf("replica-%d", i), Queue: q}
		if each != nil {
			each(i, r)
		}
		relays = append(relays, r)
		wg.Go(func() { r.Run(ctx) })
	}
	waitUntil(t, func() bool { return bus.listening() == len(queues) })
	return relays
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
	}
}

func TestRelayHandsAWriteOnAnyReplicaToTheLeader(t *testing.T) {
	bus := newMemBus()
	leader, other := newFakeQueue(true), newFakeQueue(false)
	relays := startRelays(t, bus, nil, leader, other)
	// Each relay rescans once it listens (messages sent before are lost).
	waitUntil(t, func() bool { _, all := leader.got(); return all == 1 })

	relays[1].Changed(peeringKey("p-1"), networkKey("n-1"), peeringKey("p-1"))
	waitUntil(t, func() bool { keys, _ := leader.got(); return len(keys) == 2 })
	if keys, _ := leader.got(); !slices.Equal(keys, []Key{peeringKey("p-1"), networkKey("n-1")}) {
		t.Fatalf("the leader queued %v, want each key once", keys)
	}

	// The leader's own writes go to its queue directly, not through the bus.
	sent := bus.sentCount()
	relays[0].Changed(clusterKey("c-1"))
	if keys, _ := leader.got(); keys[len(keys)-1] != clusterKey("c-1") {
		t.Fatalf("the leader's own change was not queued at once: %v", keys)
	}
	if n := bus.sentCount(); n != sent {
		t.Fatalf("the leader's own change was sent to the others: %d more messages", n-sent)
	}
	if keys, _ := other.got(); len(keys) != 0 {
		t.Fatalf("a replica that does not lead queued %v", keys)
	}
}

func TestRelayCarriesAzureEventsToEveryOtherReplica(t *testing.T) {
	bus := newMemBus()
	var mu sync.Mutex
	got := map[int][]azureemu.Event{}
	queues := []*fakeQueue{newFakeQueue(true), newFakeQueue(false), newFakeQueue(false)}
	relays := startRelays(t, bus, func(i int, r *Relay) {
		r.OnEvents = func(evs []azureemu.Event) { mu.Lock(); got[i] = append(got[i], evs...); mu.Unlock() }
	}, queues...)
	evs := []azureemu.Event{{Seq: 1, Type: azureemu.EventConsent, TenantID: "t"}, {Seq: 2, Type: azureemu.EventRoleAssignment, TenantID: "t", ResourceID: "/subscriptions/s"}}
	relays[1].Events(evs)
	waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got[0]) == 2 && len(got[2]) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if len(got[1]) != 0 {
		t.Fatalf("the sender fed its own events back to itself: %v", got[1])
	}
	for _, i := range []int{0, 2} {
		if got[i][0].Type != evs[0].Type || got[i][1].ResourceID != evs[1].ResourceID {
			t.Fatalf("replica %d got %+v, want %+v", i, got[i], evs)
		}
	}
}

// TestRelaySplitsBatchesUnderThePayloadLimit: thousands of keys go out in
// several messages, each under NOTIFY's limit, and all arrive.
func TestRelaySplitsBatchesUnderThePayloadLimit(t *testing.T) {
	r := &Relay{Self: "replica-0"}
	var keys []Key
	for i := range 3000 {
		keys = append(keys, peeringKey(fmt.Sprintf("peer-%08d", i)))
	}
	evs := make([]azureemu.Event, 500)
	for i := range evs {
		evs[i] = azureemu.Event{Seq: int64(i), Type: azureemu.EventVNet, TenantID: "5b0c3a52-8e0f-4c39-9d4c-7f1e6f0a1c01",
			ResourceID: "/subscriptions/6f3a9d1e-2b47-4c8a-9e55-0d1c2b3a4f02/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"}
	}
	payloads := r.payloads(keys, evs, true)
	if len(payloads) < 2 {
		t.Fatalf("%d payloads for 3000 keys and 500 events, want several", len(payloads))
	}
	var gotKeys []Key
	var gotEvents, rescans int
	for _, p := range payloads {
		if len(p) > relayMaxPayload {
			t.Fatalf("a payload of %d bytes, over %d", len(p), relayMaxPayload)
		}
		var m relayMessage
		if err := json.Unmarshal([]byte(p), &m); err != nil || m.From != "replica-0" {
			t.Fatalf("payload %.60q: %v, from %q", p, err, m.From)
		}
		gotKeys = append(gotKeys, m.Keys...)
		gotEvents += len(m.Events)
		if m.Rescan {
			rescans++
		}
	}
	if !slices.Equal(gotKeys, keys) || gotEvents != len(evs) || rescans != 1 {
		t.Fatalf("carried %d keys (in order: %v), %d events, %d rescans; want %d, %d, 1",
			len(gotKeys), slices.Equal(gotKeys, keys), gotEvents, rescans, len(keys), len(evs))
	}
}

// TestRelayResendsAfterAFailedSend: keys whose send failed are sent again
// after a backoff, with those added meanwhile.
func TestRelayResendsAfterAFailedSend(t *testing.T) {
	bus := newMemBus()
	leader, other := newFakeQueue(true), newFakeQueue(false)
	relays := startRelays(t, bus, nil, leader, other)
	bus.mu.Lock()
	bus.failSend = 2
	bus.mu.Unlock()
	relays[1].Changed(peeringKey("p-1"))
	relays[1].Changed(peeringKey("p-2"))
	waitUntil(t, func() bool { keys, _ := leader.got(); return len(keys) == 2 })
	if keys, _ := leader.got(); !slices.Equal(keys, []Key{peeringKey("p-1"), peeringKey("p-2")}) {
		t.Fatalf("the leader queued %v after the failed sends", keys)
	}
}

// TestRelayBacksOffWhenItCannotListen counts the attempts to listen over
// a minute of a fake clock while the database refuses them.
func TestRelayBacksOffWhenItCannotListen(t *testing.T) {
	bus := newMemBus()
	bus.failListen = errors.New("connection refused")
	listens := func() int {
		bus.mu.Lock()
		defer bus.mu.Unlock()
		return bus.listens
	}
	backoff := Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	waits := runBackingOff(t, backoff, func() bool { return listens() > 200 }, func(ctx context.Context, after func(time.Duration) <-chan time.Time) {
		r := &Relay{PubSub: bus, Self: "a", Queue: newFakeQueue(true), Backoff: backoff, after: after}
		r.Run(ctx)
	})
	if n := listens(); n > 20 || n < 5 {
		t.Fatalf("%d attempts to listen in a minute of fake time (waits %v), want 5 to 20", n, waits)
	}
}

// TestRelayAsksForARescanWhenItDropsWhatItCannotSend: past its limits a
// replica whose sends fail drops keys, and then asks the leader to rescan
// everything instead.
func TestRelayAsksForARescanWhenItDropsWhatItCannotSend(t *testing.T) {
	r := &Relay{PubSub: newMemBus(), Self: "b", Queue: newFakeQueue(false)}
	keys := make([]Key, relayMaxKeys+5)
	for i := range keys {
		keys[i] = peeringKey(fmt.Sprintf("p-%d", i))
	}
	r.Changed(keys...)
	got, _, overflow := r.take()
	if len(got) != relayMaxKeys || !overflow {
		t.Fatalf("kept %d keys, overflow %v; want %d and a rescan", len(got), overflow, relayMaxKeys)
	}
	var m relayMessage
	ps := r.payloads(nil, nil, overflow)
	if len(ps) != 1 || json.Unmarshal([]byte(ps[0]), &m) != nil || !m.Rescan {
		t.Fatalf("payloads %v, want one rescan request", ps)
	}
	q := newFakeQueue(true)
	leader := &Relay{Self: "a", Queue: q}
	leader.receive(context.Background(), ps[0])
	if _, all := q.got(); all != 1 {
		t.Fatalf("the leader rescanned %d times on a rescan request, want 1", all)
	}
}

// TestRelayWireFormat: a key travels as "kind/id", the format replicas of
// the previous release send and read; a message naming an unknown kind is
// not queued.
func TestRelayWireFormat(t *testing.T) {
	r := &Relay{Self: "replica-0"}
	payloads := r.payloads([]Key{peeringKey("p-1"), environmentKey("env-1")}, nil, false)
	if want := `{"from":"replica-0","keys":["peering/p-1","environment/env-1"]}`; len(payloads) != 1 || payloads[0] != want {
		t.Fatalf("payloads %q, want [%s]", payloads, want)
	}
	q := newFakeQueue(true)
	in := &Relay{Self: "replica-1", Queue: q}
	in.receive(context.Background(), `{"from":"replica-0","keys":["network/n-1","cluster/lkc-1"]}`)
	in.receive(context.Background(), `{"from":"replica-0","keys":["netwrok/n-2"]}`)
	if keys, _ := q.got(); !slices.Equal(keys, []Key{networkKey("n-1"), clusterKey("lkc-1")}) {
		t.Fatalf("queued %v from the wire, want [network/n-1 cluster/lkc-1]", keys)
	}
	for _, s := range []string{"peering/", "/p-1", "peering", "", "connectr/x"} {
		if k, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) = %v, want an error", s, k)
		}
	}
}
