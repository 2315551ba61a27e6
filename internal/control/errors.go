package control

import (
	"errors"
	"fmt"
)

// Domain error codes. Adapters translate them: the API to HTTP statuses and
// Confluent's error body, the CLI to exit messages.
const (
	EINVALID      = "invalid"        // the input breaks a rule; Field names it
	ENOTFOUND     = "not_found"      // the object does not exist or is not visible to the caller
	ECONFLICT     = "conflict"       // the object exists already, or its state forbids the change
	EQUOTA        = "quota_exceeded" // the change would exceed a quota
	EFORBIDDEN    = "forbidden"      // the caller is known but not allowed
	EUNAUTHORIZED = "unauthorized"   // the caller is not authenticated
	ETOOMANY      = "too_many"       // the caller sent more requests than its rate allows
	EINTERNAL     = "internal"       // anything else; the message is not shown to users
)

// Error is a domain error: a code from the list above, a message a user can
// read, and the offending field. Field is a JSON pointer into the request body
// ("/spec/cidr") when it starts with "/", and a query or path parameter name
// ("environment") otherwise; empty when no single field is to blame.
type Error struct {
	Code    string
	Message string
	Field   string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("control error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("control error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error with code, field and a formatted message.
func FieldErrorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, ""
// for nil and a generic message for any other error, so that causes meant for
// logs never reach users.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
