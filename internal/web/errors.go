package web

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
)

// apiError is the one error shape of every API:
// {"error":{"code","message","field"}}. ID appears in the server's log line
// for the same request, so a user's report leads straight to the cause.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	ID      string `json:"id,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}

func notFound(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: what + " does not exist"}
}

func unauthorized(msg string) *apiError {
	return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg}
}

func errorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeError renders err in the API error shape. Errors that are not
// apiErrors are internal: the client gets an id, the log gets the detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, extra map[string]any) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal",
			Message: "something went wrong on the server; the log has the details under this error's id"}
	}
	ae.ID = errorID()
	if ae.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "error_id", ae.ID, "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.InfoContext(r.Context(), "request refused", "error_id", ae.ID, "method", r.Method, "path", r.URL.Path,
			"code", ae.Code, "field", ae.Field, "message", ae.Message)
	}
	body := map[string]any{"error": ae}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, ae.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
