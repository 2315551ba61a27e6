package azureemu

import (
	"net/http"
	"sort"
)

// The skeleton every ARM resource handler shares: check the subscription
// (it exists, the token's tenant owns it), authorize the caller's action at
// the scope, then act; a write answers 200/201 (or 202/204 for a delete)
// and starts the long-running operation the SDK's poller follows.

// armView runs fn in a read view after the subscription check and the
// caller's permission for action at scope.
func (e *Emulator) armView(q *armReq, subID, action, scope string, fn func(s *state) error) error {
	var err error
	e.view(func(s *state) {
		if _, err = checkSubscription(s, q.c, subID); err != nil {
			return
		}
		if err = authorize(s, q.c, action, scope); err != nil {
			return
		}
		err = fn(s)
	})
	return err
}

// armTx runs fn in a write transaction after the subscription check and the
// caller's permission for action at scope.
func (e *Emulator) armTx(q *armReq, subID, action, scope string, fn func(t *txn) error) error {
	return e.update(q.r.Context(), func(t *txn) error {
		if _, err := checkSubscription(t.s, q.c, subID); err != nil {
			return err
		}
		if err := authorize(t.s, q.c, action, scope); err != nil {
			return err
		}
		return fn(t)
	})
}

// armPutDone answers a PUT that wrote body at location: 201 when it
// created the resource, 200 when it replaced it, with the async operation.
func (e *Emulator) armPutDone(q *armReq, subID, location string, created bool, body any) error {
	e.startOperation(q, subID, location)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(q.w, status, body)
	return nil
}

// armDeleteDone answers a DELETE: 202 with the async operation when the
// resource was found (and deleted), 204 when there was none.
func (e *Emulator) armDeleteDone(q *armReq, subID, location string, found bool) error {
	if !found {
		q.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	e.startOperation(q, subID, location)
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// listReadable returns, ordered by id, the JSON of the resources within
// scope (a subscription or a resource group; byRG indexes them by resource
// group) that the caller may read (action read on each).
func listReadable[T any](s *state, c *Caller, scope, read string, byRG multimap[*T], id func(*T) string, toJSON func(*state, *T, string) map[string]any) []map[string]any {
	var all []*T
	if sub := scopeSubscription(scope); normScope(scope) == lower("/subscriptions/"+sub) {
		for rg := range s.rgsIn[lower(sub)] {
			for _, r := range byRG[rg] {
				all = append(all, r)
			}
		}
	} else {
		for _, r := range byRG[lower(scope)] {
			all = append(all, r)
		}
	}
	var rs []*T
	for _, r := range all {
		if scopeWithin(id(r), scope) && s.allowed(c.ObjectID, read, id(r)) {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return lower(id(rs[i])) < lower(id(rs[j])) })
	var out []map[string]any
	for _, r := range rs {
		out = append(out, toJSON(s, r, "Succeeded"))
	}
	return out
}

// serveRGList answers GET of a resource group's resources of one type:
// list gives those the caller may read; a missing group is 404 to a caller
// allowed to read there, 403 otherwise.
func (e *Emulator) serveRGList(q *armReq, subID, rg, read string, list func(s *state, c *Caller, scope string) []map[string]any) error {
	return e.armListIn(q, subID, func(s *state) ([]map[string]any, error) {
		if s.rgs[lower(rgID(subID, rg))] == nil {
			if err := authorize(s, q.c, read, q.path(7)); err != nil {
				return nil, err
			}
			return nil, rgNotFound(rg)
		}
		return list(s, q.c, rgID(subID, rg)), nil
	})
}

// armListIn answers a GET of a list in subscription subID: after the
// subscription check, list gives the items the caller may see (it
// authorizes what it needs), written as {"value": […]}.
func (e *Emulator) armListIn(q *armReq, subID string, list func(s *state) ([]map[string]any, error)) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var out []map[string]any
	var err error
	e.view(func(s *state) {
		if _, err = checkSubscription(s, q.c, subID); err != nil {
			return
		}
		out, err = list(s)
	})
	if err != nil {
		return err
	}
	armList(q.w, out)
	return nil
}

// armRead answers a GET: read's body, 200, after the subscription check and
// the caller's permission for action at scope.
func (e *Emulator) armRead(q *armReq, subID, action, scope string, read func(s *state) (any, error)) error {
	var body any
	err := e.armView(q, subID, action, scope, func(s *state) (err error) {
		body, err = read(s)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(q.w, http.StatusOK, body)
	return nil
}

// armReadList answers a GET of a list under scope: list's items, after the
// subscription check and the caller's permission for action at scope.
func (e *Emulator) armReadList(q *armReq, subID, action, scope string, list func(s *state) ([]map[string]any, error)) error {
	return e.armListIn(q, subID, func(s *state) ([]map[string]any, error) {
		if err := authorize(s, q.c, action, scope); err != nil {
			return nil, err
		}
		return list(s)
	})
}
