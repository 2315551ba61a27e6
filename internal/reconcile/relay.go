package reconcile

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/azureemu"
)

// PubSub carries messages between the replicas sharing a database;
// *store.DB implements it with PostgreSQL's LISTEN/NOTIFY.
type PubSub interface {
	// Notify sends payloads, in order, to every Listen of topic in every
	// replica, this one included.
	Notify(ctx context.Context, topic string, payloads ...string) error
	// Listen calls fn with each payload sent on topic until ctx is done
	// or its connection fails, and returns why; ready is called once it
	// listens.
	Listen(ctx context.Context, topic string, ready func(), fn func(payload string)) error
}

// relayTopic is the PubSub topic of the relay's messages.
const relayTopic = "changes"

// Relay limits: past them pending messages are dropped and the leader is
// told to rescan instead, so that a database that is down cannot make a
// replica's memory grow.
const (
	relayMaxKeys     = 10000
	relayMaxEvents   = 1024
	relayMaxPayload  = 7900 // under PostgreSQL's 8000-byte NOTIFY limit
	relayMaxKeyBytes = 512  // a key or event larger than this is not relayed
)

// relayMessage is one notification: object keys for the leader's queue,
// the embedded Azure's events for every replica's feed, or a request to
// rescan everything.
type relayMessage struct {
	From   string           `json:"from"`
	Keys   []Key            `json:"keys,omitempty"`
	Events []azureemu.Event `json:"events,omitempty"`
	Rescan bool             `json:"rescan,omitempty"`
}

// Relay carries wake-ups between replicas, so that a write through any
// replica is reconciled at once by whichever leads: object keys that
// changed (an API write) go to the leader's queue, and the embedded
// Azure's events (a consent, a role assignment through that replica's
// Azure) to every replica's event feed, where the leader's EventWatcher
// reads them. Without a PubSub (SQLite: one process) keys go to the local
// queue only. Nothing is lost for good if a message is: the leader
// queues everything when it starts leading, when its listener
// reconnects, and every Leader.RescanEvery.
type Relay struct {
	PubSub PubSub // nil: this process is alone
	// Self is this replica's unique id: its own messages come back to it
	// and are skipped.
	Self  string
	Queue Enqueuer
	// OnEvents receives the embedded Azure events other replicas relayed,
	// for this replica's feed (azureemu.Emulator.RelayEvents).
	OnEvents func([]azureemu.Event)
	// Backoff is the delay before listening again after the connection
	// failed, or sending again after a send failed, jittered; default
	// 100ms doubling to 10s.
	Backoff Backoff
	Logger  *slog.Logger

	after func(d time.Duration) <-chan time.Time // time.After; tests fake it

	mu       sync.Mutex
	keys     map[Key]bool
	order    []Key
	events   []azureemu.Event
	overflow bool
	wake     chan struct{}
}

func (r *Relay) init() {
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
		r.keys = map[Key]bool{}
	}
}

// Changed hands changed object keys to the reconciler: to the
// local controller when this replica leads, otherwise to the leader
// through PubSub. It never blocks.
func (r *Relay) Changed(keys ...Key) {
	if r.PubSub == nil || r.Queue.Leading() {
		// A leader that resigns meanwhile drops them, but its successor
		// queues every object when it starts.
		r.Queue.EnqueueKeys(keys)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	r.addLocked(keys, nil)
	r.signal()
}

// Events hands this replica's embedded Azure events to the other
// replicas' feeds. It never blocks: Emulator's OnEvents may call it.
func (r *Relay) Events(evs []azureemu.Event) {
	if r.PubSub == nil || len(evs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	r.addLocked(nil, evs)
	r.signal()
}

// addLocked adds keys and events to what is pending, up to the limits.
func (r *Relay) addLocked(keys []Key, evs []azureemu.Event) {
	for _, k := range keys {
		switch {
		case r.keys[k]:
		case len(r.order) >= relayMaxKeys:
			r.overflow = true
		default:
			r.keys[k] = true
			r.order = append(r.order, k)
		}
	}
	r.events = append(r.events, evs...)
	if n := len(r.events) - relayMaxEvents; n > 0 {
		r.events = append(r.events[:0:0], r.events[n:]...)
		r.overflow = true
	}
}

func (r *Relay) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what is pending.
func (r *Relay) take() (keys []Key, events []azureemu.Event, overflow bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys, events, overflow = r.order, r.events, r.overflow
	r.keys, r.order, r.events, r.overflow = map[Key]bool{}, nil, nil, false
	return keys, events, overflow
}

// putBack puts what could not be sent back in front of what is pending.
func (r *Relay) putBack(keys []Key, events []azureemu.Event, overflow bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	laterKeys, laterEvents := r.order, r.events
	r.keys, r.order, r.events = map[Key]bool{}, nil, nil
	r.addLocked(keys, events)
	r.addLocked(laterKeys, laterEvents)
	r.overflow = r.overflow || overflow
}

// payloads packs keys, events and a rescan request into messages under
// relayMaxPayload bytes each.
func (r *Relay) payloads(keys []Key, events []azureemu.Event, rescan bool) []string {
	var out []string
	self, _ := json.Marshal(r.Self)
	// {"from":…,"keys":[],"events":[],"rescan":true}: 48 bytes and from.
	base := 48 + len(self)
	msg, size := relayMessage{From: r.Self, Rescan: rescan}, base
	flush := func() {
		if len(msg.Keys) > 0 || len(msg.Events) > 0 || msg.Rescan {
			b, _ := json.Marshal(msg)
			out = append(out, string(b))
		}
		msg, size = relayMessage{From: r.Self}, base
	}
	add := func(item any, put func()) {
		b, _ := json.Marshal(item)
		if len(b) > relayMaxKeyBytes {
			return
		}
		if size+len(b)+1 > relayMaxPayload {
			flush()
		}
		put()
		size += len(b) + 1
	}
	for _, k := range keys {
		add(k, func() { msg.Keys = append(msg.Keys, k) })
	}
	for _, ev := range events {
		add(ev, func() { msg.Events = append(msg.Events, ev) })
	}
	flush()
	return out
}

// Run sends and receives until ctx is done. Without a PubSub it returns
// at once.
func (r *Relay) Run(ctx context.Context) {
	if r.PubSub == nil {
		return
	}
	r.mu.Lock()
	r.init()
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { r.send(ctx) })
	wg.Go(func() { r.listen(ctx) })
	wg.Wait()
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Relay) backoff() Backoff {
	if r.Backoff == (Backoff{}) {
		return Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}
	}
	return r.Backoff
}

// sleep waits d or until ctx is done, and reports whether ctx is not.
func (r *Relay) sleep(ctx context.Context, d time.Duration) bool {
	after := r.after
	if after == nil {
		after = time.After
	}
	select {
	case <-ctx.Done():
		return false
	case <-after(d):
		return true
	}
}

// send notifies what is pending whenever there is some.
func (r *Relay) send(ctx context.Context) {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		keys, events, overflow := r.take()
		if len(keys)+len(events) == 0 && !overflow {
			continue
		}
		if err := r.PubSub.Notify(ctx, relayTopic, r.payloads(keys, events, overflow)...); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := r.backoff().Jitter(failures)
			r.logger().Warn("relay changes to the other replicas", "err", err, "retry_in", d)
			r.putBack(keys, events, overflow)
			if !r.sleep(ctx, d) {
				return
			}
			r.signal()
			continue
		}
		failures = 0
	}
}

// listen receives the other replicas' messages, listening again with
// backoff when the connection fails. Each time it listens it asks the
// local controller, if leading, to rescan: messages sent while it was not
// listening are lost.
func (r *Relay) listen(ctx context.Context) {
	log := r.logger()
	failures := 0
	for {
		err := r.PubSub.Listen(ctx, relayTopic, func() {
			failures = 0
			if err := r.Queue.Rescan(ctx); err != nil && ctx.Err() == nil {
				log.Warn("rescan after listening", "err", err)
			}
		}, func(payload string) { r.receive(ctx, payload) })
		if ctx.Err() != nil {
			return
		}
		failures++
		d := r.backoff().Jitter(failures)
		log.Warn("listen for other replicas' changes", "err", err, "retry_in", d)
		if !r.sleep(ctx, d) {
			return
		}
	}
}

// receive handles one message from another replica.
func (r *Relay) receive(ctx context.Context, payload string) {
	var msg relayMessage
	if err := json.Unmarshal([]byte(payload), &msg); err != nil {
		r.logger().Warn("undecodable relay message", "err", err)
		return
	}
	if msg.From == r.Self {
		return
	}
	if len(msg.Keys) > 0 {
		r.Queue.EnqueueKeys(msg.Keys)
	}
	if len(msg.Events) > 0 && r.OnEvents != nil {
		r.OnEvents(msg.Events)
	}
	if msg.Rescan {
		if err := r.Queue.Rescan(ctx); err != nil && ctx.Err() == nil {
			r.logger().Warn("rescan asked by a replica", "err", err)
		}
	}
}
