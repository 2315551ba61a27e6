package azureemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/peerplane/peerplane/internal/azureid"
)

// Azure Resource Manager: routing, resource id parsing, errors and
// long-running operations. ARM paths are case-insensitive, so the path is
// parsed into segments here rather than with a ServeMux; every handler
// authorizes (rbac.go) before it looks at whether the resource exists, as
// ARM does.

// armReq is one ARM request being served.
type armReq struct {
	w    http.ResponseWriter
	r    *http.Request
	c    *Caller
	segs []string // the path's segments, as sent
}

// path returns "/" + the first n segments, in the request's casing.
func (q *armReq) path(n int) string {
	if n > len(q.segs) {
		n = len(q.segs)
	}
	return "/" + strings.Join(q.segs[:n], "/")
}

func (q *armReq) seg(i int) string {
	if i < len(q.segs) {
		return q.segs[i]
	}
	return ""
}

func (q *armReq) is(i int, name string) bool { return strings.EqualFold(q.seg(i), name) }

// writeErr writes err as ARM's error shape; anything but an *Error is a 500.
func writeErr(w http.ResponseWriter, err error) {
	var ee *Error
	if errors.As(err, &ee) {
		writeARMError(w, ee.Status, ee.Code, ee.Message)
		return
	}
	writeARMError(w, http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error: "+err.Error())
}

func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request) {
	c := e.authenticate(w, r, "arm")
	if c == nil {
		return
	}
	r = r.WithContext(withActor(r.Context(), c.actor()))
	if r.URL.Query().Get("api-version") == "" {
		writeARMError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	var segs []string
	for _, s := range strings.Split(r.URL.Path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	q := &armReq{w: w, r: r, c: c, segs: segs}
	w.Header().Set("x-ms-request-id", uuid.NewString())
	w.Header().Set("x-ms-correlation-request-id", uuid.NewString())
	if err := e.routeARM(q); err != nil {
		writeErr(w, err)
	}
}

// routeARM dispatches by path shape. A non-nil error is written by the
// caller.
func (e *Emulator) routeARM(q *armReq) error {
	// {scope}/providers/Microsoft.Resources/tags/default
	if n := len(q.segs); n >= 3 && q.is(n-3, "providers") && q.is(n-2, "Microsoft.Resources") && q.is(n-1, "tags") {
		return e.serveTagsAtScope(q, n-3)
	}
	if n := len(q.segs); n >= 4 && q.is(n-4, "providers") && q.is(n-3, "Microsoft.Resources") && q.is(n-2, "tags") {
		return e.serveTagsAtScope(q, n-4)
	}
	// {scope}/providers/Microsoft.Authorization/role{Definitions,Assignments}[/{id}]
	for i := len(q.segs) - 3; i >= 0; i-- {
		if q.is(i, "providers") && q.is(i+1, "Microsoft.Authorization") && len(q.segs) <= i+4 {
			scope := q.path(i)
			id := q.seg(i + 3)
			switch {
			case q.is(i+2, "roleDefinitions"):
				return e.serveRoleDefinitions(q, scope, id)
			case q.is(i+2, "roleAssignments"):
				return e.serveRoleAssignments(q, scope, id)
			}
		}
	}
	n := len(q.segs)
	switch {
	case q.is(0, "tenants") && n == 1:
		return e.serveTenants(q)
	case q.is(0, "providers") && n <= 2:
		return e.serveProviders(q, "", q.seg(1))
	case q.is(0, "subscriptions") && n == 1:
		return e.serveSubscriptionList(q)
	case !q.is(0, "subscriptions"):
		return armNotFoundPath(q)
	}
	subID := q.seg(1)
	if !azureid.IsGUID(subID) {
		return errorf(400, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", subID)
	}
	switch {
	case n == 2:
		return e.serveSubscription(q, subID)
	case q.is(2, "locations") && n == 3:
		return e.serveLocations(q, subID)
	case q.is(2, "resourceGroups") && n == 3:
		return e.serveResourceGroupList(q, subID)
	case q.is(2, "resourceGroups") && n == 4:
		return e.serveResourceGroup(q, subID, q.seg(3))
	case q.is(2, "resourceGroups") && n >= 7 && q.is(4, "providers"):
		if !q.is(5, "Microsoft.Network") {
			return errorf(400, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", q.seg(5))
		}
		return e.serveNetwork(q, subID, q.seg(3))
	case q.is(2, "providers") && n <= 4:
		return e.serveProviders(q, subID, q.seg(3))
	case q.is(2, "providers") && n == 5 && q.is(4, "register"):
		return e.serveProviders(q, subID, q.seg(3))
	case q.is(2, "providers") && q.is(3, "Microsoft.Network") && n == 8 && q.is(4, "locations") && q.is(6, "operations"):
		return e.serveOperation(q, subID, q.seg(7))
	case q.is(2, "providers") && q.is(3, "Microsoft.Network") && n == 5:
		return e.serveNetworkSubscriptionList(q, subID, q.seg(4))
	case q.is(2, "providers") && n >= 5:
		if !q.is(3, "Microsoft.Network") {
			return errorf(400, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", q.seg(3))
		}
	}
	return armNotFoundPath(q)
}

func armNotFoundPath(q *armReq) error {
	return errorf(404, "InvalidResourceType", "The resource type could not be found for the request path '%s'.", q.r.URL.Path)
}

func armMethodNotAllowed(q *armReq) error {
	return errorf(405, "MethodNotAllowed", "The requested resource does not support http method '%s'.", q.r.Method)
}

// maxARMBody bounds request bodies; ARM's own limit is 4 MiB.
const maxARMBody = 4 << 20

// decodeARM decodes the request body into v. Bad JSON is a 400 naming
// where it went wrong.
func decodeARM(q *armReq, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, maxARMBody))
	if err != nil {
		return errorf(413, "RequestContentTooLarge", "The request content exceeds the maximum size of %d bytes.", maxARMBody)
	}
	return decodeARMBytes(body, v)
}

func decodeARMBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body is empty.'.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errorf(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: '%s'.", armJsonErrText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: 'Additional text encountered after finished reading JSON content.'.")
	}
	return nil
}

// armJsonErrText describes a decoding error with the field it concerns.
func armJsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("Error converting value of type %s to type %s. Path '%s', position %d.", te.Value, te.Type, te.Field, te.Offset)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s. Position %d.", se.Error(), se.Offset)
	}
	return err.Error()
}

// Long-running operations. Mutations complete synchronously; the
// Azure-AsyncOperation URL merely lets clients poll as they do against
// Azure. Retry-After-Ms is what azcore's poller (and azure-core in Python)
// honours first, so polling finishes in milliseconds. A PUT's body already
// says provisioningState Succeeded, which is true, so azcore's poller does
// not poll at all; clients that poll anyway get Succeeded at once.

const lroRetryAfterMs = "1"

// startOperation sets the polling headers of an operation that has
// already finished. Nothing is recorded: every operation has succeeded by
// the time its id is handed out, so serveOperation needs no memory of it
// (a map of ids would grow with every write the server ever served).
func (e *Emulator) startOperation(q *armReq, subID, location string) {
	id := uuid.NewString()
	if location == "" {
		location = "global"
	}
	apiVersion := q.r.URL.Query().Get("api-version")
	u := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Network/locations/%s/operations/%s?api-version=%s", e.base, subID, location, id, apiVersion)
	q.w.Header().Set("Azure-AsyncOperation", u)
	q.w.Header().Set("Retry-After-Ms", lroRetryAfterMs)
	if q.r.Method == http.MethodDelete {
		q.w.Header().Set("Location", strings.Replace(u, "/operations/", "/operationResults/", 1))
	}
}

func (e *Emulator) serveOperation(q *armReq, subID, opID string) error {
	if q.r.Method != http.MethodGet {
		return armMethodNotAllowed(q)
	}
	var err error
	e.view(func(s *state) { _, err = checkSubscription(s, q.c, subID) })
	if err != nil {
		return err
	}
	if !azureid.IsGUID(opID) {
		return errorf(404, "NotFound", "The operation '%s' was not found.", opID)
	}
	q.w.Header().Set("Retry-After-Ms", lroRetryAfterMs)
	writeJSON(q.w, http.StatusOK, map[string]string{"status": "Succeeded"})
	return nil
}

// armList writes an ARM collection.
func armList[T any](w http.ResponseWriter, items []T) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": items})
}

func armNewEtag() string { return `W/"` + uuid.NewString() + `"` }

func armCopyTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func armTagsOut(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// validateTags applies ARM's tag limits.
func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errorf(400, "InvalidTemplate", "The number of tags (%d) exceeds the maximum of 50 (field 'tags').", len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 {
			return errorf(400, "InvalidTagNameLength", "The tag name '%s' must be 1 to 512 characters long (field 'tags').", k)
		}
		if strings.ContainsAny(k, "<>%&\\?/") || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 }) {
			return errorf(400, "InvalidTagNameCharacters", "The tag names '%s' have reserved characters '<,>,%%,&,\\,?,/' or control characters (field 'tags').", k)
		}
		if len(v) > 256 {
			return errorf(400, "InvalidTagValueLength", "The tag value of tag '%s' exceeds 256 characters (field 'tags').", k)
		}
	}
	return nil
}

// preauth returns the error ARM would answer before looking at a bad
// body (wrong tenant, missing permission), else bodyErr.
func (e *Emulator) preauth(q *armReq, subID, action, scope string, bodyErr error) error {
	err := bodyErr
	e.view(func(s *state) {
		if _, cerr := checkSubscription(s, q.c, subID); cerr != nil {
			err = cerr
		} else if aerr := authorize(s, q.c, action, scope); aerr != nil {
			err = aerr
		}
	})
	return err
}
