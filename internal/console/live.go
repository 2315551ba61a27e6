package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/peerplane/peerplane/internal/control"
)

// historyEntry is one observed phase of a peering.
type historyEntry struct {
	At        time.Time
	Phase     string
	ErrorCode string
}

func (h historyEntry) Badge() badge { return peeringBadge(h.Phase) }

// historyStore keeps the phase changes the console observed, in memory:
// it is lost on restart and only holds what a page or a live stream of
// this server saw (a change and its reversal between two reads are
// missed). The time of a change is the peering's UpdatedAt.
type historyStore struct {
	mu sync.Mutex
	m  map[string][]historyEntry
}

const (
	maxHistory         = 50   // entries per peering
	maxHistoryPeerings = 5000 // peerings remembered
)

func newHistoryStore() *historyStore { return &historyStore{m: map[string][]historyEntry{}} }

func (h *historyStore) observe(p *control.Peering) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.m[p.ID]
	if n := len(list); n > 0 && list[n-1].Phase == p.Status.Phase && list[n-1].ErrorCode == p.Status.ErrorCode {
		return
	}
	if list == nil && len(h.m) >= maxHistoryPeerings {
		for id := range h.m { // forget an arbitrary one
			delete(h.m, id)
			break
		}
	}
	at := p.UpdatedAt
	if at.IsZero() {
		at = time.Now()
	}
	list = append(list, historyEntry{At: at, Phase: p.Status.Phase, ErrorCode: p.Status.ErrorCode})
	if len(list) > maxHistory {
		list = list[len(list)-maxHistory:]
	}
	h.m[p.ID] = list
}

func (h *historyStore) get(id string) []historyEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]historyEntry(nil), h.m[id]...)
}

func (h *historyStore) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, id)
}

const maxStreamsPerSession = 16

// stream is one server-sent event stream.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *stream) send(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// live runs tick every PollInterval as a server-sent event stream, until
// the client goes away, the session ends, tick returns false or the
// console is closed.
func (c *Console) live(w http.ResponseWriter, r *http.Request, s *session, tick func(ctx context.Context, st *stream) bool) {
	s.mu.Lock()
	if s.streams >= maxStreamsPerSession {
		s.mu.Unlock()
		http.Error(w, "Too many live pages are open; close some.", http.StatusTooManyRequests)
		return
	}
	s.streams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.streams--
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	ctx := r.Context()
	t := time.NewTicker(c.opts.PollInterval)
	defer t.Stop()
	for {
		if c.sessions.get(s.token) == nil || !c.recheck(ctx, s) {
			st.send("signed-out", map[string]string{"url": Prefix + "login"})
			return
		}
		octx := control.NewContextWithOrganization(ctx, s.organization())
		if !tick(octx, st) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-c.closed:
			return
		case <-t.C:
		}
	}
}

// differ remembers the last HTML sent per key.
type differ map[string]string

func (d differ) changed(ps []patch) []patch {
	var out []patch
	for _, p := range ps {
		if d[p.Key] != p.HTML {
			d[p.Key] = p.HTML
			out = append(out, p)
		}
	}
	return out
}

// networkLive streams the network page's changes: its status, the
// peering rows (each on its own; the whole table when rows come or go),
// the quota, the clusters with the budget and the connectors with their
// status (connectorLive).
func (c *Console) networkLive(w http.ResponseWriter, r *http.Request, s *session) {
	env, net := r.PathValue("env"), r.PathValue("net")
	last := differ{}
	conns := newConnectorLive()
	var ids []string
	first := true // the page may have been rendered from another list
	c.live(w, r, s, func(ctx context.Context, st *stream) bool {
		v, err := c.loadNetwork(ctx, env, net)
		if err != nil {
			if control.ErrorCode(err) == control.ENOTFOUND {
				st.send("gone", map[string]string{"message": "This network no longer exists."})
				return false
			}
			return ctx.Err() == nil // a transient error: try again
		}
		v.CSRF = s.csrf
		if err := c.loadConnectors(ctx, v, conns.cache); err != nil {
			return ctx.Err() == nil
		}
		var now []string
		ps := []patch{
			{Key: "net-status", HTML: c.fragment("network-status", v)},
			{Key: "quota", HTML: c.fragment("quota", v)},
			{Key: "clusters", HTML: c.fragment("clusters", v)},
		}
		for _, p := range v.Peerings {
			now = append(now, p.ID)
		}
		sort.Strings(now)
		if first || fmt.Sprint(now) != fmt.Sprint(ids) {
			first = false
			for _, id := range ids {
				delete(last, "peering:"+id)
			}
			ps = append(ps, patch{Key: "peerings", HTML: c.fragment("peerings-body", v)})
			ids = now
		}
		changed := last.changed(ps)
		for _, p := range v.Peerings {
			row := c.fragment("peering-row", peeringRow{Env: env, P: p})
			if last["peering:"+p.ID] != row {
				if _, seen := last["peering:"+p.ID]; seen {
					changed = append(changed, patch{Key: "peering:" + p.ID, HTML: row})
				}
				last["peering:"+p.ID] = row
			}
		}
		changed = append(changed, conns.patches(c, v)...)
		if len(changed) > 0 {
			return st.send("patch", changed) == nil
		}
		return true
	})
}

// peeringRow is the data of one row of the network's peerings table.
type peeringRow struct {
	Env string
	P   *control.Peering
}

// resendEvery is how many ticks a peering page's stream sends only what
// changed before it sends every part again: an action's answer patches
// the page behind the stream's back, and may land after a newer patch of
// the stream; the script skips the parts it already shows.
const resendEvery = 10

// peeringLive streams the peering page's changes: the status, the
// history, the stored checklist (with the grant steps it ticks off) and
// the result line of the session's last action, whenever they change. The
// grant card goes as a whole when the peering turns Active (and comes
// back when it fails again); otherwise its steps and result line go on
// their own, so that the buttons stay in place.
func (c *Console) peeringLive(w http.ResponseWriter, r *http.Request, s *session) {
	env, id := r.PathValue("env"), r.PathValue("id")
	last := differ{}
	shown := "" // whether the page shows the grant card, once sent
	ticks, answered := 0, s.answeredActions()
	c.live(w, r, s, func(ctx context.Context, st *stream) bool {
		// After an action's answer (and every resendEvery ticks) the
		// page may show other parts than the stream last sent.
		ticks++
		if n := s.answeredActions(); n != answered || ticks%resendEvery == 0 {
			answered = n
			clear(last)
		}
		v, err := c.sessionPeering(ctx, r, s, env, id)
		if err != nil {
			if control.ErrorCode(err) == control.ENOTFOUND {
				c.history.forget(id)
				st.send("gone", map[string]string{"message": "This peering has been deleted.", "url": networkURL(env, r.URL.Query().Get("network"))})
				return false
			}
			return ctx.Err() == nil
		}
		ps := []patch{
			{Key: "status", HTML: c.fragment("peering-status", v)},
			{Key: "history", HTML: c.fragment("history", v)},
			{Key: "checks", HTML: c.fragment("checks", v)},
		}
		grant := []patch{{Key: "grant", HTML: c.fragment("grant", v)}, {Key: "action", HTML: c.fragment("action", v)}}
		if show := fmt.Sprint(v.ShowGrant()); show != shown {
			shown = show
			ps = append(ps, patch{Key: "grant-card", HTML: c.fragment("grant-card", v)})
			last.changed(grant) // sent within the card
		} else {
			ps = append(ps, grant...)
		}
		if changed := last.changed(ps); len(changed) > 0 {
			return st.send("patch", changed) == nil
		}
		return true
	})
}
