package api

import (
	"mime"
	"net/http"

	"github.com/peerplane/peerplane/internal/control"
)

// errMediaType marks a request body that is not declared JSON: 415, naming
// the Content-Type header.
type errMediaType struct{ err *control.Error }

func (e errMediaType) Error() string { return e.err.Error() }
func (e errMediaType) Unwrap() error { return e.err }

// checkContentType refuses a POST, PUT or PATCH that has a body, or declares
// a Content-Type, unless it declares application/json (parameters such as
// charset aside). A browser posts a cross-site form, without asking the
// server first (CORS preflight), only as application/x-www-form-urlencoded,
// multipart/form-data or text/plain: refusing those means no page can make
// a browser act with the Basic credentials it has cached for this API.
func checkContentType(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" && r.ContentLength == 0 {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		return errMediaType{control.FieldErrorf(control.EINVALID, "Content-Type", "A request body must be sent with Content-Type: application/json.")}
	}
	return errMediaType{control.FieldErrorf(control.EINVALID, "Content-Type", "Content-Type %q is not supported; send the request body as application/json.", ct)}
}
