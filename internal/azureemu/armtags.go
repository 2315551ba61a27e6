package azureemu

import (
	"maps"
	"net/http"
	"slices"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Tags as an extension resource, {scope}/providers/Microsoft.Resources/tags/default:
// Tags - Get, Create Or Update, Update and Delete At Scope, which `az tag
// create|update|delete --resource-id` and armresources.TagsClient call. The
// emulator keeps tags on resource groups, virtual networks and network
// security groups.
//
// Azure authorizes these calls with Microsoft.Resources/tags/{read,write,
// delete} (the Tag Contributor role: tags on resources one cannot
// otherwise touch), and also lets through callers that may read or write
// the tagged resource itself (a Contributor tags what it can write).

const (
	actTagsRead   = "Microsoft.Resources/tags/read"
	actTagsWrite  = "Microsoft.Resources/tags/write"
	actTagsDelete = "Microsoft.Resources/tags/delete"

	typeTags = "Microsoft.Resources/tags"
)

// Tags patch operations.
const (
	tagsReplace = "Replace"
	tagsMerge   = "Merge"
	tagsDelete  = "Delete"
)

// tagScope is the resource a tags call is about.
type tagScope struct {
	kind  string // KindResourceGroup, KindVirtualNetwork or KindNSG
	subID string
	rg    string
	name  string
	path  string // the scope as sent: what is authorized and named in errors
	// The resource's own read and write actions, which also allow reading
	// and writing its tags.
	read, write string
}

// parseTagScope maps the first n segments of q's path to a resource that
// keeps tags.
func parseTagScope(q *armReq, n int) (*tagScope, error) {
	if !q.is(0, "subscriptions") || n < 2 {
		return nil, tagScopeUnsupported(q)
	}
	ts := &tagScope{subID: q.seg(1), path: q.path(n)}
	if !azureid.IsGUID(ts.subID) {
		return nil, errorf(400, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", ts.subID)
	}
	if n < 4 || !q.is(2, "resourceGroups") {
		return nil, tagScopeUnsupported(q)
	}
	ts.rg = q.seg(3)
	switch {
	case n == 4:
		ts.kind, ts.read, ts.write = KindResourceGroup, actRGRead, actRGWrite
	case n == 8 && q.is(4, "providers") && q.is(5, "Microsoft.Network") && q.is(6, "virtualNetworks"):
		ts.kind, ts.name, ts.read, ts.write = KindVirtualNetwork, q.seg(7), actVNetRead, actVNetWrite
	case n == 8 && q.is(4, "providers") && q.is(5, "Microsoft.Network") && q.is(6, "networkSecurityGroups"):
		ts.kind, ts.name, ts.read, ts.write = KindNSG, q.seg(7), actNSGRead, actNSGWrite
	default:
		return nil, tagScopeUnsupported(q)
	}
	return ts, nil
}

func tagScopeUnsupported(q *armReq) error {
	return errorf(400, "UnsupportedTagsScope", "The scope of '%s' does not support tags here: the embedded Azure keeps tags on resource groups, virtual networks and network security groups.", q.r.URL.Path)
}

// authorize lets c perform tagsAction at the scope, or the resource's own
// resourceAction; the error names tagsAction.
func (ts *tagScope) authorize(s *state, c *Caller, tagsAction, resourceAction string) error {
	if _, err := checkSubscription(s, c, ts.subID); err != nil {
		return err
	}
	if s.allowed(c.ObjectID, resourceAction, ts.path) {
		return nil
	}
	return authorize(s, c, tagsAction, ts.path)
}

// tags returns the resource's id and tags, or its not-found error.
func (ts *tagScope) tags(s *state) (string, map[string]string, error) {
	switch ts.kind {
	case KindResourceGroup:
		if rg := s.rgs[lower(rgID(ts.subID, ts.rg))]; rg != nil {
			return rg.ID, rg.Tags, nil
		}
		return "", nil, rgNotFound(ts.rg)
	case KindVirtualNetwork:
		if v := s.vnets[lower(vnetID(ts.subID, ts.rg, ts.name))]; v != nil {
			return v.ID, v.Tags, nil
		}
		return "", nil, vnetNotFound(ts.name, ts.rg)
	default:
		if n := s.nsgs[lower(nsgID(ts.subID, ts.rg, ts.name))]; n != nil {
			return n.ID, n.Tags, nil
		}
		return "", nil, nsgNotFound(ts.name, ts.rg)
	}
}

// setTags replaces the resource's tags and records the change, with the
// event a PATCH of the resource's tags emits.
func (ts *tagScope) setTags(t *txn, tags map[string]string) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	s := t.s
	switch ts.kind {
	case KindResourceGroup:
		rg := s.rgs[lower(rgID(ts.subID, ts.rg))]
		if rg == nil {
			return rgNotFound(ts.rg)
		}
		rg.Tags = armCopyTags(tags)
		t.put(KindResourceGroup, rg.ID, rg)
	case KindVirtualNetwork:
		v := s.vnets[lower(vnetID(ts.subID, ts.rg, ts.name))]
		if v == nil {
			return vnetNotFound(ts.name, ts.rg)
		}
		v.Tags = armCopyTags(tags)
		t.put(KindVirtualNetwork, v.ID, v)
		t.emit(KindVirtualNetwork, v.ID, Event{Type: EventVNet, TenantID: s.subTenant(v.SubscriptionID), ResourceID: v.ID})
	default:
		n := s.nsgs[lower(nsgID(ts.subID, ts.rg, ts.name))]
		if n == nil {
			return nsgNotFound(ts.name, ts.rg)
		}
		n.Tags = armCopyTags(tags)
		t.put(KindNSG, n.ID, n)
		t.emit(KindNSG, n.ID, Event{Type: EventNSG, TenantID: s.subTenant(n.SubscriptionID), ResourceID: n.ID})
	}
	return nil
}

func tagsResourceJSON(resourceID string, tags map[string]string) map[string]any {
	return map[string]any{
		"id":         resourceID + "/providers/" + typeTags + "/default",
		"name":       "default",
		"type":       typeTags,
		"properties": map[string]any{"tags": armTagsOut(tags)},
	}
}

// tagsIn is the body of a PUT (operation unset) or PATCH.
type tagsIn struct {
	Operation  *string `json:"operation"`
	Properties *struct {
		Tags map[string]string `json:"tags"`
	} `json:"properties"`
}

// patchTags applies op to cur and returns the new set. Names match
// case-insensitively, as in Azure; a merged name keeps the casing it had.
// Delete removes a name whatever its value when the request's value is
// empty, else only when the values are equal.
func patchTags(op string, cur, in map[string]string) map[string]string {
	if op == tagsReplace {
		return armCopyTags(in)
	}
	out := armCopyTags(cur)
	if out == nil {
		out = map[string]string{}
	}
	names := make(map[string]string, len(out)) // lower-cased name → name
	for name := range out {
		names[lower(name)] = name
	}
	// In name order, so that names differing only in case in one request
	// always end the same way.
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		name, ok := names[lower(k)]
		switch {
		case op == tagsMerge && ok:
			out[name] = v
		case op == tagsMerge:
			out[k] = v
			names[lower(k)] = k
		case ok && (v == "" || out[name] == v):
			delete(out, name)
			delete(names, lower(k))
		}
	}
	return out
}

// serveTagsAtScope serves {scope}/providers/Microsoft.Resources/tags/{name};
// the scope is the first n segments of the path.
func (e *Emulator) serveTagsAtScope(q *armReq, n int) error {
	if len(q.segs) != n+4 || !q.is(n+3, "default") {
		return errorf(404, "InvalidResourceType", "The resource type could not be found for the request path '%s': the tags of a scope are at '{scope}/providers/Microsoft.Resources/tags/default'.", q.r.URL.Path)
	}
	ts, err := parseTagScope(q, n)
	if err != nil {
		return err
	}
	switch q.r.Method {
	case http.MethodGet:
		var body map[string]any
		e.view(func(s *state) {
			if err = ts.authorize(s, q.c, actTagsRead, ts.read); err != nil {
				return
			}
			id, tags, terr := ts.tags(s)
			if err = terr; err == nil {
				body = tagsResourceJSON(id, tags)
			}
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodPut, http.MethodPatch:
		var in tagsIn
		if err := decodeARM(q, &in); err != nil {
			return e.preauthTags(q, ts, err)
		}
		op := tagsReplace
		if q.r.Method == http.MethodPatch {
			var ok bool
			if op, ok = armCanonical(in.Operation, tagsReplace, tagsMerge, tagsDelete); !ok {
				got := "null"
				if in.Operation != nil {
					got = "'" + *in.Operation + "'"
				}
				return e.preauthTags(q, ts, errorf(400, "InvalidRequestContent", "The tags operation %s is invalid: use one of 'Replace', 'Merge' or 'Delete' (field 'operation').", got))
			}
		}
		if in.Properties == nil {
			return e.preauthTags(q, ts, errorf(400, "InvalidRequestContent", "The request content was invalid: the set of tags is missing (field 'properties.tags')."))
		}
		var body map[string]any
		err := e.update(q.r.Context(), func(t *txn) error {
			if err := ts.authorize(t.s, q.c, actTagsWrite, ts.write); err != nil {
				return err
			}
			id, cur, err := ts.tags(t.s)
			if err != nil {
				return err
			}
			tags := patchTags(op, cur, in.Properties.Tags)
			if err := ts.setTags(t, tags); err != nil {
				return err
			}
			body = tagsResourceJSON(id, tags)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, body)
		return nil
	case http.MethodDelete:
		err := e.update(q.r.Context(), func(t *txn) error {
			if err := ts.authorize(t.s, q.c, actTagsDelete, ts.write); err != nil {
				return err
			}
			if _, _, err := ts.tags(t.s); err != nil {
				return err
			}
			return ts.setTags(t, nil)
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	return armMethodNotAllowed(q)
}

// preauthTags returns the error ARM would answer before looking at a bad
// body (wrong tenant, no permission), else bodyErr.
func (e *Emulator) preauthTags(q *armReq, ts *tagScope, bodyErr error) error {
	err := bodyErr
	e.view(func(s *state) {
		if aerr := ts.authorize(s, q.c, actTagsWrite, ts.write); aerr != nil {
			err = aerr
		}
	})
	return err
}
