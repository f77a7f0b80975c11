package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
)

// Error is the one error of every HTTP surface: a handler returns it, and
// the adapter (handler.go) renders it — as {"error":{"code","message",
// "field","id"}} for the APIs, as the error page for the UI. ID appears in
// the server's log line for the same request too, so a user's report leads
// straight to the cause. Any other error a handler returns is internal:
// the client gets an id, the log gets the detail.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	ID      string `json:"id,omitempty"`
	// Extra holds members the API answer carries beside "error" (the
	// journey map's diagnostics, for example).
	Extra map[string]any `json:"-"`
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns an error with any status and code.
func NewError(status int, code, field, msg string) *Error {
	return &Error{Status: status, Code: code, Field: field, Message: msg}
}

// BadRequest is a 400 about one field of the request.
func BadRequest(code, field, msg string) *Error {
	return NewError(http.StatusBadRequest, code, field, msg)
}

// NotFound is the API's 404: what names the thing, "does not exist" follows.
func NotFound(what string) *Error {
	return NewError(http.StatusNotFound, "not_found", "", what+" does not exist")
}

// Unauthorized is a 401 with what to send instead.
func Unauthorized(msg string) *Error {
	return NewError(http.StatusUnauthorized, "unauthorized", "", msg)
}

// Forbidden is a 403 with why.
func Forbidden(msg string) *Error {
	return NewError(http.StatusForbidden, "forbidden", "", msg)
}

// Conflict is a 409 with what to do next.
func Conflict(msg string) *Error {
	return NewError(http.StatusConflict, "conflict", "", msg)
}

// Unavailable is a 503: the service behind an endpoint is not running.
func Unavailable(code, msg string) *Error {
	return NewError(http.StatusServiceUnavailable, code, "", msg)
}

// WithExtra adds members to the API answer beside "error".
func (e *Error) WithExtra(extra map[string]any) *Error {
	e.Extra = extra
	return e
}

// AsError returns err as an *Error, or nil when it is not one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsCode reports whether err is an *Error with code.
func IsCode(err error, code string) bool {
	e := AsError(err)
	return e != nil && e.Code == code
}

// ErrorID returns a fresh id for an error, shown to the client and logged.
func ErrorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
