package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/peerplane/peerplane/internal/azureid"
	"github.com/peerplane/peerplane/internal/control"
)

// failure is Confluent's error body.
type failure struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	ID     string       `json:"id"`
	Status string       `json:"status"`
	Code   string       `json:"code,omitempty"`
	Title  string       `json:"title"`
	Detail string       `json:"detail,omitempty"`
	Source *errorSource `json:"source,omitempty"`
}

type errorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

// errorShape is how one domain error code appears on the wire.
type errorShape struct {
	status int
	code   string
	title  string
}

// errorShapes maps control's codes to statuses and Confluent's codes.
// EINVALID splits: a body field is 422 invalid_configuration, a query or
// path parameter (or an undecodable body) 400.
var errorShapes = map[string]errorShape{
	control.EINVALID:      {http.StatusUnprocessableEntity, "invalid_configuration", "Validation Failed"},
	control.ENOTFOUND:     {http.StatusNotFound, "not_found", "Not Found"},
	control.ECONFLICT:     {http.StatusConflict, "resource_already_exists", "Resource Already Exists"},
	control.EQUOTA:        {http.StatusPaymentRequired, "quota_exceeded", "Quota Exceeded"},
	control.EFORBIDDEN:    {http.StatusForbidden, "user_unauthorized", "User Access Unauthorized"},
	control.EUNAUTHORIZED: {http.StatusUnauthorized, "user_unauthenticated", "Authentication Required"},
	control.ETOOMANY:      {http.StatusTooManyRequests, "too_many_requests", "Too Many Requests"},
	control.EINTERNAL:     {http.StatusInternalServerError, "internal_error", "Internal Server Error"},
}

var (
	badRequest           = errorShape{http.StatusBadRequest, "invalid_parameter", "Bad Request"}
	unsupportedMediaType = errorShape{http.StatusUnsupportedMediaType, "unsupported_media_type", "Unsupported Media Type"}
)

// errBadBody marks an error decoding the request body (400, not 422).
type errBadBody struct{ err *control.Error }

func (e errBadBody) Error() string { return e.err.Error() }
func (e errBadBody) Unwrap() error { return e.err }

// writeError writes err as Confluent's Failure body with the status of its
// domain code. Internal errors are logged and shown generically.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := control.ErrorCode(err)
	shape, ok := errorShapes[code]
	if !ok {
		shape = errorShapes[control.EINTERNAL]
	}
	field := control.ErrorField(err)
	var bb errBadBody
	isBadBody := asBadBody(err, &bb)
	if code == control.EINVALID && (isBadBody || field != "" && !strings.HasPrefix(field, "/")) {
		shape = badRequest
	}
	if errors.As(err, new(errMediaType)) {
		shape = unsupportedMediaType
	}
	if code == control.ECONFLICT && field == "" {
		shape.code, shape.title = "conflict", "Conflict"
	}
	if shape.status == http.StatusInternalServerError {
		s.logInternal(r, err)
	}
	item := errorItem{
		ID:     errorID(r),
		Status: strconv.Itoa(shape.status),
		Code:   shape.code,
		Title:  shape.title,
		Detail: control.ErrorMessage(err),
	}
	switch {
	case strings.HasPrefix(field, "/"):
		item.Source = &errorSource{Pointer: field}
	case field != "":
		item.Source = &errorSource{Parameter: field}
	}
	if shape.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="peerplane", error="invalid_key", error_description="The API key or secret is invalid"`)
	}
	writeJSON(w, shape.status, failure{Errors: []errorItem{item}})
}

// logInternal logs the cause of a 500, with the request's id, which is
// also the id its answer names.
func (s *Server) logInternal(r *http.Request, err error) {
	s.opts.Logger.ErrorContext(r.Context(), "api: internal error", "request_id", errorID(r), "method", r.Method, "path", r.URL.Path, "err", err)
}

func asBadBody(err error, target *errBadBody) bool {
	for err != nil {
		if bb, ok := err.(errBadBody); ok {
			*target = bb
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// errorID returns the id of an error answering r: the request's id
// (RequestIDHeader), or a new one when r was not observed.
func errorID(r *http.Request) string {
	if id := requestID(r.Context()); id != "" {
		return id
	}
	return newRequestID()
}

// newRequestID returns a random (version 4) UUID.
func newRequestID() string { return azureid.NewGUID() }

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
