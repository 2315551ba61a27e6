package azureemu

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Event types: changes a control plane reconciling against the emulator
// wants to react to at once instead of waiting for its next poll.
const (
	EventConsent        = "servicePrincipal.created" // admin consent or az ad sp create
	EventSPDeleted      = "servicePrincipal.deleted"
	EventRoleAssignment = "roleAssignment.changed"
	EventRoleDefinition = "roleDefinition.changed"
	EventVNet           = "virtualNetwork.changed" // tags, address space, created
	EventVNetDeleted    = "virtualNetwork.deleted"
	EventPeering        = "virtualNetworkPeering.changed"
	EventPeeringDeleted = "virtualNetworkPeering.deleted"
	EventNSG            = "networkSecurityGroup.changed"
)

// Event is a change in the emulator, numbered in the order it became durable.
type Event struct {
	Seq        int64  `json:"seq"`
	Type       string `json:"type"`
	TenantID   string `json:"tenantId,omitempty"`
	ResourceID string `json:"resourceId,omitempty"`
	// Actor is who made the change: for a request with an application's
	// token, the application's id (the token's appid, which azp repeats),
	// the same in every tenant; for a user's token (an ARM or Graph call,
	// or the admin consent page), the user's object id. It is empty for
	// the operator's changes (the /_emulator routes, the Go API) and the
	// emulator's own. A control plane can tell its own writes, made as its
	// application, from its customers'.
	Actor string    `json:"actor,omitempty"`
	Time  time.Time `json:"time"`
}

// eventLog is a bounded in-memory log of events with waiters. Events are a
// hint to act now; a consumer that falls behind (or restarts) resyncs by
// reading state, so losing old events is harmless.
type eventLog struct {
	mu      sync.Mutex
	buf     []Event
	max     int
	seq     int64
	changed chan struct{}
}

func newEventLog(max int) *eventLog {
	return &eventLog{max: max, changed: make(chan struct{})}
}

// append numbers ev, stamps it with at and adds it; it returns it so. The
// log keeps at least the last max events: it drops the older ones once it
// holds twice as many, so that an append costs O(1) amortized.
func (l *eventLog) append(ev Event, at time.Time) Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	ev.Seq, ev.Time = l.seq, at
	l.buf = append(l.buf, ev)
	if len(l.buf) > 2*l.max {
		l.buf = append(l.buf[:0:0], l.buf[len(l.buf)-l.max:]...)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return ev
}

// since returns the events after seq, the newest seq, and a channel closed
// at the next append.
func (l *eventLog) since(seq int64) ([]Event, int64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The log's sequence numbers are consecutive: the events after seq
	// start at a known index.
	var out []Event
	if n := len(l.buf); n > 0 {
		i := max(0, int(seq-l.buf[0].Seq+1))
		if i < n {
			out = append(out, l.buf[i:]...)
		}
	}
	return out, l.seq, l.changed
}

// serveEvents is a long poll: GET /_emulator/events?after=N&wait=25s
// answers {"events":[…],"last":M} as soon as there is an event after N, or
// with no events when wait runs out. Each event is
// {"seq","type","tenantId","resourceId","actor","time"}; "actor" (see
// Event.Actor) is the application id or user object id whose request made
// the change, absent for the operator's. A consumer whose "after" is ahead of
// "last" (the emulator restarted) should resync and continue from "last".
func (e *Emulator) serveEvents(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if r.URL.Query().Get("after") == "" {
		after, err = -1, nil
	}
	if err != nil {
		writeARMError(w, http.StatusBadRequest, "InvalidParameter", "The query parameter 'after' must be an integer.")
		return
	}
	wait := 25 * time.Second
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > time.Minute {
			writeARMError(w, http.StatusBadRequest, "InvalidParameter", "The query parameter 'wait' must be a duration between 0s and 1m.")
			return
		}
		wait = d
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		evs, last, changed := e.events.since(after)
		if len(evs) > 0 || after > last || after < 0 {
			if evs == nil {
				evs = []Event{}
			}
			writeJSON(w, http.StatusOK, map[string]any{"events": evs, "last": last})
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			writeJSON(w, http.StatusOK, map[string]any{"events": []Event{}, "last": last})
			return
		case <-r.Context().Done():
			return
		}
	}
}
