package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing
// it; an Adapter renders it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Adapter turns a HandlerFunc into an http.HandlerFunc: when the handler
// returns an error, the adapter gives it an id, logs it under that id and
// renders it. The APIs render JSON (JSONAdapter); the UI renders its error
// page (internal/web/ui).
type Adapter struct {
	Log *slog.Logger
	// Internal is the message shown for an error that is not an *Error.
	Internal string
	// Subject names what failed in the log line: "request" or "page".
	Subject string
	// Render writes the error; e.ID is already set.
	Render func(w http.ResponseWriter, r *http.Request, e *Error)
}

// JSONAdapter renders errors in the API error shape
// {"error":{"code","message","field","id"}}.
func JSONAdapter(log *slog.Logger) Adapter {
	return Adapter{Log: log, Subject: "request",
		Internal: "something went wrong on the server; the log has the details under this error's id",
		Render: func(w http.ResponseWriter, _ *http.Request, e *Error) {
			body := map[string]any{"error": e}
			for k, v := range e.Extra {
				body[k] = v
			}
			WriteJSON(w, e.Status, body)
		}}
}

// Handle adapts h.
func (a Adapter) Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.Error(w, r, err)
		}
	}
}

// Error logs and renders err. An error that is not an *Error is internal:
// the client gets the id, the log gets the detail.
func (a Adapter) Error(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	if e == nil {
		e = NewError(http.StatusInternalServerError, "internal", "", a.Internal)
	} else {
		c := *e
		e = &c
	}
	e.ID = ErrorID()
	if e.Status >= 500 {
		a.Log.ErrorContext(r.Context(), a.Subject+" failed", "error_id", e.ID, "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		a.Log.InfoContext(r.Context(), a.Subject+" refused", "error_id", e.ID, "method", r.Method, "path", r.URL.Path,
			"code", e.Code, "field", e.Field, "message", e.Message)
	}
	a.Render(w, r, e)
}

// WriteJSON answers with v as JSON; HTML characters are not escaped, so
// messages read as written.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// NonNil returns v, or an empty slice for nil, so that JSON says [] not null.
func NonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
